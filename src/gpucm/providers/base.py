"""What every provider adapter offers the engine, and what it declares it can do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from gpucm.domain.models import Offer


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
