"""What every provider adapter offers the engine, and what it declares it can do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gpucm.domain.models import Instance, Offer


@dataclass(frozen=True)
class Capabilities:
    """What a provider's API supports, so front ends offer only what works."""

    stop_start: bool = False
    restart: bool = False
    spot: bool = False
    container_image: bool = False
    env_vars: bool = False
    port_mapping: bool = False
    logs: bool = False
    ssh_key_per_launch: bool = False
    auto_terminate: bool = False
    storage_billed_separately: bool = False

    def features(self) -> list[str]:
        names = {
            "stop_start": "Stop/start",
            "restart": "Restart",
            "spot": "Spot / interruptible",
            "container_image": "Docker images",
            "env_vars": "Environment variables",
            "port_mapping": "Port mapping",
            "logs": "Logs",
            "ssh_key_per_launch": "SSH key per launch",
            "auto_terminate": "Auto-terminate",
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

    def __repr__(self) -> str:
        # environment values are secrets
        env = [k for k, _ in self.environment]
        return f"LaunchSpec(offer={self.offer.id!r}, label={self.label!r}, env_keys={env!r})"


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
