"""What a launch asks for: the options to run with (from the TUI form, CLI flags or the
original API's create body), the request id that makes it happen at most once, the tag
that finds its machine at the provider, and the fingerprint that tells one request
from another under the same id."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpucm.domain.models import LaunchRequest

DEFAULT_ESTIMATE_HOURS = 1.0


@dataclass(frozen=True)
class LaunchOptions:
    """What to run, normalised from a LaunchRequest, the TUI form or CLI flags."""

    request_id: str
    label: str
    image: str | None = None
    environment: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[int, str], ...] = ()
    disk_gb: float | None = None
    ssh_key_name: str | None = None
    onstart_script: str | None = None
    max_price_per_hour: float | None = None
    auto_terminate_hours: float | None = None
    min_ram_gb: float | None = None
    min_storage_gb: float | None = None
    min_gpus: int | None = None
    hours: float | None = None  # for the cost estimate
    # rented interruptible (spot) at `bid_per_gpu` $/GPU-hour; None: the offer's
    # minimum bid plus a small margin (domain.pricing.default_bid)
    interruptible: bool = False
    bid_per_gpu: float | None = None
    ssh_public_key: str | None = None  # installed where the provider takes one (Paperspace)
    file_systems: tuple[str, ...] = ()  # the provider's shared filesystems to attach (Lambda)
    # GB the job sends out per hour: the all-in price adds it at the offer's per-GB
    # egress rate where the provider bills one (domain/pricing.py); an estimate, like
    # `hours`, so not part of the request's fingerprint
    gb_out_per_hour: float = 0.0
    origin: str | None = None  # what launched it when not a person (`watch NAME`)

    def __repr__(self) -> str:  # environment values are secrets
        return (
            f"LaunchOptions(request_id={self.request_id!r}, label={self.label!r}, "
            f"image={self.image!r}, env_keys={[k for k, _ in self.environment]!r})"
        )

    @property
    def estimate_hours(self) -> float:
        return self.hours or self.auto_terminate_hours or DEFAULT_ESTIMATE_HOURS

    def masked(self) -> dict[str, Any]:
        """The request as the journal keeps it: environment values never in clear."""
        return {
            "label": self.label,
            "image": self.image,
            "environment": {k: "***" for k, _ in self.environment},
            "ports": [f"{p}/{proto}" for p, proto in self.ports],
            "disk_gb": self.disk_gb,
            "ssh_key_name": self.ssh_key_name,
            "max_price_per_hour": self.max_price_per_hour,
            "auto_terminate_hours": self.auto_terminate_hours,
            **self._rental(),
            **({"origin": self.origin} if self.origin else {}),
        }

    def _rental(self) -> dict[str, Any]:
        """Interruptible, bid, key and filesystems: only where asked, so a request
        journaled before they existed has the same fingerprint as before."""
        out: dict[str, Any] = {}
        if self.interruptible:
            out.update(interruptible=True, bid_per_gpu=self.bid_per_gpu)
        if self.ssh_public_key:
            out["ssh_public_key"] = self.ssh_public_key
        if self.file_systems:
            out["file_systems"] = sorted(self.file_systems)
        return out

    def fingerprint_fields(self) -> dict[str, Any]:
        """What a request asks for, beyond its offer: environment *names* only (values
        are secrets and never reach the store, hashed or not); not the request id, nor
        the hours of the estimate."""
        return {
            "label": self.label,
            "image": self.image,
            "environment": sorted(k for k, _ in self.environment),
            "ports": sorted(f"{p}/{proto}" for p, proto in self.ports),
            "disk_gb": self.disk_gb,
            "ssh_key_name": self.ssh_key_name,
            "onstart_script": self.onstart_script,
            "max_price_per_hour": self.max_price_per_hour,
            "auto_terminate_hours": self.auto_terminate_hours,
            "min_ram_gb": self.min_ram_gb,
            "min_storage_gb": self.min_storage_gb,
            "min_gpus": self.min_gpus,
            **self._rental(),
        }

    @classmethod
    def from_request(cls, req: LaunchRequest, *, hours: float | None = None) -> LaunchOptions:
        res = req.resources
        return cls(
            request_id=req.request_id or new_request_id(),
            label=req.label or "gpucm",
            image=req.image,
            environment=tuple(req.environment.items()),
            ports=tuple((p.container_port, p.protocol) for p in req.ports),
            disk_gb=req.disk_gb or res.min_storage_gb,
            ssh_key_name=req.ssh_key,
            onstart_script=req.onstart_script,
            max_price_per_hour=req.max_price_per_hour,
            auto_terminate_hours=req.auto_terminate_hours,
            min_ram_gb=res.min_ram_gb,
            min_storage_gb=res.min_storage_gb,
            min_gpus=res.min_gpus,
            hours=hours,
            interruptible=req.interruptible,
            bid_per_gpu=req.bid_price_per_gpu,
        )


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_tag(request_id: str) -> str:
    """The short, name-safe tag gpucm puts in every instance name it launches."""
    return "g" + hashlib.sha256(request_id.encode()).hexdigest()[:8]


def tagged_label(label: str, request_id: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:48] or "gpucm"
    return f"{base}-{request_tag(request_id)}"


def offer_target(offer_id: str, provider: str | None = None) -> str:
    """An offer as a request names it, one way (`offer vast_ai:123`): by gpucm's id,
    whether the request gave that or the provider's own id and the provider."""
    if provider and not offer_id.startswith(f"{provider}:"):
        offer_id = f"{provider}:{offer_id}"
    return f"offer {offer_id}"


def request_fingerprint(target: str, options: LaunchOptions) -> str:
    """A hash of what a request asks for: `target` (the offer, or the search that picks
    it) and the options. The same request id with another fingerprint is refused."""
    fields = {"target": target, **options.fingerprint_fields()}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def options_from_mapping(
    data: Mapping[str, Any], *, request_id: str | None = None
) -> LaunchOptions:
    """LaunchOptions from the original API's create body (validated as LaunchRequest)."""
    req = LaunchRequest.model_validate(dict(data))
    if request_id:
        req = req.model_copy(update={"request_id": request_id})
    return LaunchOptions.from_request(req)
