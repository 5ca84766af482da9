"""What every provider adapter offers the engine, and what it declares it can do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gpucm.domain.models import Instance, Offer
from gpucm.providers.errors import InvalidRequest


@dataclass(frozen=True)
class Capabilities:
    """What a provider's API supports, so front ends offer only what works.

    `auto_shutdown`: the provider stops a machine after a set time. Stops, not
    terminates: the machine and its disk stay, and the disk keeps billing (Paperspace's
    auto-shutdown).
    `spot`: interruptible rental with a bid (a higher bid stops the machine).
    `ssh_public_key`: a launch installs the user's own public key (Paperspace, by a
    startup script); `ssh_key_per_launch`: a launch names a key saved at the provider.
    """

    stop_start: bool = False
    restart: bool = False
    spot: bool = False
    container_image: bool = False
    env_vars: bool = False
    port_mapping: bool = False
    logs: bool = False
    ssh_key_per_launch: bool = False
    ssh_public_key: bool = False
    auto_shutdown: bool = False
    storage_billed_separately: bool = False
    file_systems: bool = False

    def features(self) -> list[str]:
        names = {
            "stop_start": "Stop/start",
            "restart": "Restart",
            "spot": "Spot / interruptible (bid; stops when outbid)",
            "container_image": "Docker images",
            "env_vars": "Environment variables",
            "port_mapping": "Port mapping",
            "logs": "Logs",
            "ssh_key_per_launch": "SSH key per launch",
            "ssh_public_key": "Your SSH public key installed at launch",
            "auto_shutdown": "Auto-shutdown (stops the machine; its disk keeps billing)",
            "file_systems": "Shared filesystems",
        }
        return ["SSH access"] + [label for attr, label in names.items() if getattr(self, attr)]


@dataclass(frozen=True)
class ProviderMeta:
    name: str
    display_name: str
    website: str
    default_base_url: str
    key_env: str
    url_env: str
    capabilities: Capabilities
    regions: tuple[str, ...] = field(default=())
    # what an offer's availability level says at this provider, for the offer detail
    # and the launch confirmation (README "The providers" says the same)
    availability: str = ""


@dataclass(frozen=True)
class Region:
    """A provider's region as its API names it (Lambda's `us-east-1`)."""

    name: str
    description: str


@dataclass(frozen=True)
class FileSystem:
    """A shared filesystem on the account, attachable at launch in its own region."""

    name: str
    region: str
    id: str | None = None
    mount_point: str | None = None
    in_use: bool = False
    bytes_used: int | None = None


@dataclass(frozen=True)
class MachineImage:
    """An OS image a VM provider offers (Lambda's `/images`), per region."""

    id: str
    name: str
    family: str | None = None
    version: str | None = None
    description: str | None = None
    architecture: str | None = None
    region: str | None = None


@runtime_checkable
class OfferSource(Protocol):
    """The part of an adapter the refresh engine needs."""

    @property
    def name(self) -> str: ...

    @property
    def is_demo(self) -> bool: ...

    async def fetch_offers(self) -> list[Offer]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class LaunchSpec:
    """A launch the engine has decided on: the offer as last quoted plus what to run.

    `label` already carries gpucm's request tag (the engine adds it), so an adapter just
    passes it on as the provider's name/label field.

    `interruptible` rents the offer as spot: the machine runs while `bid_per_gpu`
    (USD per GPU-hour, at least the offer's `min_bid_per_gpu_hour`) is the highest bid,
    and stops, keeping its disk, when outbid. Without a bid the adapter bids the
    offer's minimum. A provider that cannot rent interruptible raises Unsupported.

    `ssh_public_key` is the key to install where the provider takes one per launch
    (Paperspace, through a startup script); `file_systems` names the provider's shared
    filesystems to attach (Lambda's `file_system_names`).
    """

    offer: Offer
    label: str
    request_id: str
    image: str | None = None
    environment: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[int, str], ...] = ()  # (container port, "tcp" | "udp" | "http")
    disk_gb: float | None = None
    ssh_key_name: str | None = None
    onstart_script: str | None = None
    auto_terminate_hours: float | None = None
    interruptible: bool = False
    bid_per_gpu: float | None = None
    ssh_public_key: str | None = None
    file_systems: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # environment values are secrets
        env = [k for k, _ in self.environment]
        spot = f", bid_per_gpu={self.bid_per_gpu!r}" if self.interruptible else ""
        return f"LaunchSpec(offer={self.offer.id!r}, label={self.label!r}, env_keys={env!r}{spot})"

    def bid(self, provider: str) -> float:
        """The bid per GPU-hour an interruptible launch sends: the one asked for, else
        the offer's minimum. InvalidRequest when neither is known or it is below the
        minimum (the provider would refuse it, or take it and outbid it at once)."""
        minimum = self.offer.min_bid_per_gpu_hour
        bid = self.bid_per_gpu if self.bid_per_gpu is not None else minimum
        if bid is None or not bid > 0 or bid != bid:
            raise InvalidRequest(
                provider,
                f"offer {self.offer.id} has no interruptible price to bid from; give a bid "
                "per GPU-hour or refresh the offers",
            )
        if minimum is not None and bid < minimum:
            raise InvalidRequest(
                provider,
                f"a bid of ${bid:.4f}/GPU-h is below the minimum of ${minimum:.4f}/GPU-h "
                f"for offer {self.offer.id}; bid at least the minimum",
            )
        return bid


@runtime_checkable
class InstanceControl(Protocol):
    """The part of an adapter that manages the user's machines. Operations a provider
    lacks raise providers.errors.Unsupported with a sentence saying so."""

    @property
    def name(self) -> str: ...

    async def list_instances(self) -> list[Instance]: ...

    async def launch(self, spec: LaunchSpec) -> Instance: ...

    async def stop(self, provider_id: str) -> None: ...

    async def start(self, provider_id: str) -> None: ...

    async def restart(self, provider_id: str) -> None: ...

    async def terminate(self, provider_id: str) -> None: ...

    async def quote(self, offer: Offer) -> Offer | None:
        """The offer as the provider quotes it now, or None if it is gone."""
        ...

    async def logs(self, provider_id: str) -> str: ...
