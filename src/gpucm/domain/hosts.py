"""A memory of bad hosts: which machine an offer or an instance is on, and what a
failure there is remembered as.

A host key names the most specific physical thing a provider lets gpucm tell apart:

- Vast.ai: the machine (`machine_id` on every offer and instance: `vast_ai:machine:123`).
  Vast also gives `host_id` (the person or company behind many machines); it is kept as
  data on the offer, but one failure condemns the machine, not every machine of a host.
- RunPod, Lambda Cloud, Paperspace: no machine is named before a launch (an offer is a
  GPU type in a data centre or region; RunPod names the pod's `machineId` only after),
  so the key is the offer itself: that GPU type at that place (`runpod:NVIDIA...`).

Pure domain code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol


class Machine(Protocol):
    """What instance_host reads of an Instance (models imports this module for
    Offer.host_id, so it does not import models back)."""

    @property
    def provider(self) -> str: ...

    @property
    def provider_data(self) -> dict[str, Any]: ...

    @property
    def offer_id(self) -> str | None: ...


__all__ = [
    "DEFAULT_TTL",
    "HOST_KINDS",
    "BadHost",
    "HostKind",
    "instance_host",
    "offer_host",
]

# launch_failed: the launch was refused or the machine went to an error before running;
# unreachable: it never became reachable (still provisioning after UNREACHABLE_AFTER);
# marked_bad: the user said so, with a reason
HostKind = Literal["launch_failed", "unreachable", "marked_bad"]
HOST_KINDS: Final[tuple[HostKind, ...]] = ("launch_failed", "unreachable", "marked_bad")
DEFAULT_TTL: Final = timedelta(days=7)
UNREACHABLE_AFTER: Final = timedelta(minutes=30)
MAX_REASON: Final = 200

_MACHINE_PROVIDERS: Final = frozenset({"vast_ai"})


def _machine(provider: str, data: dict[str, Any]) -> str | None:
    machine = data.get("machine_id")
    if (
        provider in _MACHINE_PROVIDERS
        and isinstance(machine, int)
        and not isinstance(machine, bool)
    ):
        return f"{provider}:machine:{machine}"
    return None


def offer_host(provider: str, offer_id: str, provider_data: dict[str, Any]) -> str:
    """The host key of an offer (see the module doc)."""
    return _machine(provider, provider_data) or offer_id


def instance_host(instance: Machine, offer_id: str | None = None) -> str | None:
    """The host key of a machine the user runs, or None when nothing names it: the
    machine where the provider names it, else the offer it was launched from
    (`offer_id`: the launch journal's, when the instance does not say)."""
    return _machine(instance.provider, instance.provider_data) or instance.offer_id or offer_id


@dataclass(frozen=True, slots=True)
class BadHost:
    """A host in the memory of bad hosts: searches hide its offers until it expires."""

    host: str
    provider: str
    kind: HostKind
    reason: str
    recorded_at: datetime
    expires_at: datetime
    instance_id: str | None = None
    recorded_by: str | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def clean_reason(text: str) -> str:
    """A reason as the store keeps it: one line of printable text, bounded."""
    line = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return line[:MAX_REASON]
