"""Pure translation between Paperspace v1 API bodies and gpucm's domain objects.

No IO except reading the packaged machine-type catalogue. Everything here is fed fixtures
directly by the tests; `paperspace.PaperspaceAdapter` only adds HTTP around it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from gpucm.domain.models import Instance, InstanceStatus, Offer, offer_id
from gpucm.domain.provider_names import PAPERSPACE
from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    redact,
)

log = logging.getLogger(__name__)

CATALOGUE_RESOURCE: Final = "paperspace_machine_types.json"

# The GPU-ready OS template launches use: drivers, CUDA and the usual ML stack come
# preinstalled (SkyPilot's template id tiq8mhti for H100/A100 is this one). If a team's
# template list lacks it for a machine type, launch falls back to the first template that
# lists the type, preferring one that marks it available.
DEFAULT_TEMPLATE_NAME: Final = "ML-in-a-Box Ubuntu 22.04"

# Boot disk sizes the machine-create form offers (Paperspace block volumes, 50 GB..2 TB).
DISK_SIZES_GB: Final[tuple[int, ...]] = (50, 100, 250, 500, 1000, 2000)
DEFAULT_DISK_GB: Final = 100

# Only the 8-GPU SXM boxes have NVLink to enable (SkyPilot's NVLINK_INSTANCES).
NVLINK_TYPES: Final[frozenset[str]] = frozenset({"A100-80Gx8", "H100x8"})

SSH_USER: Final = "paperspace"
SSH_PORT: Final = 22

# Machines report memory and disk in bytes of whole GiB (34359738368 = the 32 GB RAM of an
# A4000 box), so GiB gives back the figures the pricing page uses.
_GIB: Final = 1024**3

# Every `state` API_NOTES lists. `stopping` is shown as stopped: billing of compute ends
# as the stop begins and the raw string stays in raw_status.
STATUS_TABLE: Final[dict[str, InstanceStatus]] = {
    "provisioning": "provisioning",
    "starting": "provisioning",
    "restarting": "provisioning",
    "upgrading": "provisioning",
    "serviceready": "provisioning",
    "ready": "running",
    "stopping": "stopped",
    "off": "stopped",
}


def normalise_status(raw: object) -> InstanceStatus:
    """gpucm's status for a machine `state`; anything unknown is an error to look at."""
    if not isinstance(raw, str):
        return "error"
    return STATUS_TABLE.get(raw.strip().lower(), "error")


# -- small readers ----------------------------------------------------------------------


def _num(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _when(value: object) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _bad(what: str) -> BadResponse:
    return BadResponse(PAPERSPACE, what)


def region_code(region: str) -> str:
    """The data-centre code of a region string: "East Coast (NY2)" -> "NY2"."""
    if "(" in region and region.rstrip().endswith(")"):
        code = region.rsplit("(", 1)[1].rstrip().rstrip(")").strip()
        if code:
            return code
    return "-".join(region.split())


def offer_provider_id(machine_type: str, region: str) -> str:
    """`A100-80G@NY2`: the same form the demo market uses."""
    return f"{machine_type}@{region_code(region)}"


# -- the packaged machine-type catalogue ------------------------------------------------


@dataclass(frozen=True)
class MachineType:
    label: str
    gpu_name: str | None
    gpu_count: int
    gpu_memory_gb: float | None
    vcpus: float | None
    ram_gb: float | None
    price_per_hour: float | None
    regions: tuple[str, ...]
    storage_price_per_gb_month: float | None
    kind: str

    @property
    def is_gpu(self) -> bool:
        return self.kind != "cpu" and self.gpu_count >= 1 and self.gpu_name is not None


@dataclass(frozen=True)
class MachineCatalogue:
    machine_types: tuple[MachineType, ...]
    storage_price_per_gb_month: float | None = None
    source: str | None = None

    def get(self, label: str) -> MachineType | None:
        for machine_type in self.machine_types:
            if machine_type.label == label:
                return machine_type
        return None


def _count_from_label(label: str) -> int | None:
    # "A100-80Gx8" -> 8; only a trailing x<digits> counts.
    head, sep, tail = label.rpartition("x")
    return int(tail) if sep and head and tail.isdigit() else None


def _machine_type(row: Any) -> MachineType:
    if not isinstance(row, dict):
        raise ValueError("row is not an object")
    label = _text(row.get("machineType"))
    if label is None:
        raise ValueError("no machineType")
    regions = row.get("regions")
    if not isinstance(regions, list):
        raise ValueError(f"{label}: regions is not a list")
    count = _num(row.get("gpuCount"))
    gpu_count = int(count) if count is not None else (_count_from_label(label) or 1)
    memory = _num(row.get("gpuMemoryGb"))
    return MachineType(
        label=label,
        gpu_name=_text(row.get("gpuModel")),
        gpu_count=max(gpu_count, 0),
        gpu_memory_gb=memory if memory else None,
        vcpus=_num(row.get("cpus")),
        ram_gb=_num(row.get("ramGb")),
        price_per_hour=_num(row.get("pricePerHour")),
        regions=tuple(r for r in (_text(x) for x in regions) if r is not None),
        storage_price_per_gb_month=_num(row.get("storagePricePerGbMonth")),
        kind=_text(row.get("kind")) or "gpu",
    )


def parse_catalogue(body: Any) -> MachineCatalogue:
    """The catalogue from its JSON; malformed rows are skipped, a wrong shape raises."""
    if not isinstance(body, dict) or not isinstance(body.get("machineTypes"), list):
        raise _bad("the packaged machine-type catalogue has no 'machineTypes' list")
    types: list[MachineType] = []
    for row in body["machineTypes"]:
        try:
            types.append(_machine_type(row))
        except ValueError as exc:
            log.debug("paperspace catalogue: skipped a row (%s)", exc)
    return MachineCatalogue(
        machine_types=tuple(types),
        storage_price_per_gb_month=_num(body.get("storagePricePerGbMonth")),
        source=_text(body.get("source")),
    )


@lru_cache(maxsize=1)
def load_catalogue() -> MachineCatalogue:
    """The catalogue packaged with gpucm (prices from Paperspace's public pricing page)."""
    text = resources.files("gpucm.providers").joinpath(CATALOGUE_RESOURCE).read_text("utf-8")
    return parse_catalogue(json.loads(text))


# -- pages and availability -------------------------------------------------------------


def parse_page(body: Any, what: str) -> tuple[list[Any], str | None]:
    """Items and next cursor of a `{hasMore, items, nextPage}` list answer."""
    if not isinstance(body, dict):
        raise _bad(f"answered {what} with a {type(body).__name__}, not an object")
    items = body.get("items")
    if not isinstance(items, list):
        raise _bad(f"answered {what} without an 'items' list")
    cursor = _text(body.get("nextPage")) if body.get("hasMore") is True else None
    if body.get("hasMore") is True and cursor is None:
        log.debug("paperspace %s: hasMore without a nextPage cursor; stopping", what)
    return items, cursor


def template_offers(template: Any, machine_type: str) -> bool | None:
    """Whether an OS template marks a machine type available; None if it does not list it."""
    if not isinstance(template, dict):
        return None
    entries = template.get("availableMachineTypes")
    if not isinstance(entries, list):
        return None
    listed: bool | None = None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("machineTypeLabel") == machine_type:
            listed = bool(listed) or entry.get("isAvailable") is True
    return listed


def availability_from_templates(templates: Iterable[Any]) -> dict[str, bool]:
    """Machine type -> available, true if any template lists it available.

    Templates that cannot be read are skipped; but if templates came and not one entry
    of any could be read, that is a BadResponse: every offer would otherwise turn
    unavailable on an answer whose shape has changed.
    """
    items = list(templates)
    available: dict[str, bool] = {}
    unreadable = 0
    for template in items:
        entries = template.get("availableMachineTypes") if isinstance(template, dict) else None
        if not isinstance(entries, list):
            log.debug("paperspace os-templates: skipped an item without availableMachineTypes")
            unreadable += 1
            continue
        for entry in entries:
            label = _text(entry.get("machineTypeLabel")) if isinstance(entry, dict) else None
            if label is None:
                unreadable += 1
                continue
            available[label] = available.get(label, False) or entry.get("isAvailable") is True
    if items and not available and unreadable:
        raise _bad(
            f"none of the {len(items)} OS templates in GET /os-templates had machine-type "
            "availability that could be read; the API may have changed"
        )
    return available


# -- offers -----------------------------------------------------------------------------


def make_offer(
    machine_type: MachineType,
    region: str,
    available: bool,
    fetched_at: datetime,
    default_storage_price: float | None = None,
) -> Offer | None:
    """One catalogue row in one region as an Offer, or None if the row cannot be one."""
    if not machine_type.is_gpu or machine_type.price_per_hour is None:
        return None
    pid = offer_provider_id(machine_type.label, region)
    try:
        return Offer(
            id=offer_id(PAPERSPACE, pid),
            provider=PAPERSPACE,
            provider_id=pid,
            gpu_name=machine_type.gpu_name or machine_type.label,
            gpu_count=machine_type.gpu_count,
            gpu_memory_gb=machine_type.gpu_memory_gb,
            price_per_hour=machine_type.price_per_hour,
            storage_price_per_gb_month=machine_type.storage_price_per_gb_month
            or default_storage_price,
            vcpus=machine_type.vcpus,
            ram_gb=machine_type.ram_gb,
            storage_gb=None,
            region=region,
            reliability=None,
            verified=True,
            available=available,
            fetched_at=fetched_at,
            provider_data={"machine_type": machine_type.label, "region": region},
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        log.debug("paperspace %s: skipped (%s)", pid, exc.__class__.__name__)
        return None


def build_offers(
    catalogue: MachineCatalogue, availability: Mapping[str, bool], fetched_at: datetime
) -> list[Offer]:
    """Catalogue GPU rows x their regions; a type no template lists is unavailable."""
    offers: list[Offer] = []
    for machine_type in catalogue.machine_types:
        if not machine_type.is_gpu:
            continue
        if machine_type.price_per_hour is None:
            log.debug("paperspace catalogue: %s has no price; skipped", machine_type.label)
            continue
        available = availability.get(machine_type.label, False)
        for region in machine_type.regions:
            offer = make_offer(
                machine_type, region, available, fetched_at, catalogue.storage_price_per_gb_month
            )
            if offer is not None:
                offers.append(offer)
    return offers


def parse_offers(
    templates_body: Any, fetched_at: datetime, catalogue: MachineCatalogue | None = None
) -> list[Offer]:
    """Offers from one `GET /os-templates` page and the packaged catalogue."""
    items, _ = parse_page(templates_body, "GET /os-templates")
    return build_offers(
        catalogue or load_catalogue(), availability_from_templates(items), fetched_at
    )


# -- machines ---------------------------------------------------------------------------


def _gpus(item: Mapping[str, Any], machine_type: MachineType | None) -> tuple[str | None, int]:
    accelerators = item.get("accelerators")
    names: list[str] = []
    count = 0
    if isinstance(accelerators, list):
        for acc in accelerators:
            name = _text(acc.get("name")) if isinstance(acc, dict) else None
            if name is None:
                continue
            names.append(name)
            n = _num(acc.get("count"))
            count += int(n) if n is not None and n >= 1 else 1
    if names:
        return names[0], count
    if machine_type is not None and machine_type.is_gpu:
        return machine_type.gpu_name, machine_type.gpu_count
    return None, 0


def _gib(value: object) -> float | None:
    number = _num(value)
    return round(number / _GIB, 2) if number is not None and number >= 0 else None


def parse_machine(item: Any, catalogue: MachineCatalogue | None = None) -> Instance | None:
    """One machine as an Instance, or None (logged) if it has no id."""
    if not isinstance(item, dict):
        log.debug("paperspace machines: skipped an item that is not an object")
        return None
    pid = _text(item.get("id"))
    if pid is None:
        log.debug("paperspace machines: skipped an item without an id")
        return None
    catalogue = catalogue or load_catalogue()
    label = _text(item.get("machineType"))
    machine_type = catalogue.get(label) if label else None
    gpu_name, gpu_count = _gpus(item, machine_type)
    raw = _text(item.get("state"))
    status = normalise_status(raw)
    if _when(item.get("dtDeleted")) is not None:
        status = "terminated"
    region = _text(item.get("region"))
    price = _num(item.get("usageRate"))
    if price is None and machine_type is not None:
        price = machine_type.price_per_hour
    public_ip = _text(item.get("publicIp"))
    data: dict[str, Any] = {
        "machine_type": label,
        "region": region,
        "os": _text(item.get("os")),
        "private_ip": _text(item.get("privateIp")),
        "public_ip_type": _text(item.get("publicIpType")),
        "storage_rate": _num(item.get("storageRate")),
        "storage_used_gb": _gib(item.get("storageUsed")),
        "auto_shutdown_enabled": item.get("autoShutdownEnabled") is True,
        "auto_shutdown_timeout_hours": _num(item.get("autoShutdownTimeout")),
    }
    try:
        return Instance(
            id=f"{PAPERSPACE}:{pid}",
            provider=PAPERSPACE,
            provider_id=pid,
            name=_text(item.get("name")) or "",
            status=status,
            raw_status=raw,
            gpu_name=gpu_name,
            gpu_count=gpu_count,
            cpu_count=_num(item.get("cpus")),
            ram_gb=_gib(item.get("ram")),
            storage_gb=_gib(item.get("storageTotal")),
            price_per_hour=price,
            region=region,
            ssh_host=public_ip,
            ssh_port=SSH_PORT if public_ip else None,
            ssh_user=SSH_USER,
            public_ip=public_ip,
            offer_id=offer_id(PAPERSPACE, offer_provider_id(label, region))
            if label and region
            else None,
            created_at=_when(item.get("dtCreated")),
            updated_at=_when(item.get("dtModified")),
            provider_data={k: v for k, v in data.items() if v is not None},
        )
    except ValueError as exc:
        log.debug("paperspace machine %s: skipped (%s)", pid, exc.__class__.__name__)
        return None


def parse_machines_page(
    body: Any, catalogue: MachineCatalogue | None = None
) -> tuple[list[Instance], str | None]:
    items, cursor = parse_page(body, "GET /machines")
    instances = [i for i in (parse_machine(item, catalogue) for item in items) if i is not None]
    return instances, cursor


def event_error(body: Any) -> str | None:
    """The error of the `event` a machine operation answers with, if it failed."""
    event = body.get("event") if isinstance(body, dict) else None
    if not isinstance(event, dict):
        return None
    error = event.get("error")
    message = _text(error) or (_text(error.get("message")) if isinstance(error, dict) else None)
    if message is not None:
        return message
    if _text(event.get("state")) == "error":
        return f"the {_text(event.get('name')) or 'machine'} operation failed"
    return None


def parse_created(body: Any, catalogue: MachineCatalogue | None = None) -> Instance:
    """The `{data, event}` answer of `POST /machines` as an Instance."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise _bad("answered POST /machines without the created machine ('data')")
    instance = parse_machine(body["data"], catalogue)
    if instance is None:
        raise _bad("answered POST /machines with a machine that has no id")
    error = event_error(body)
    event = body.get("event")
    extra: dict[str, Any] = {}
    if isinstance(event, dict) and _text(event.get("id")):
        extra["create_event_id"] = _text(event.get("id"))
    if error is not None:
        # The machine exists (it has an id and bills storage) even though its create
        # failed: hand it back as an error, never hide it behind an exception.
        extra["create_error"] = error
        return instance.model_copy(
            update={"status": "error", "provider_data": {**instance.provider_data, **extra}}
        )
    if extra:
        instance = instance.model_copy(
            update={"provider_data": {**instance.provider_data, **extra}}
        )
    return instance


# -- launch helpers ---------------------------------------------------------------------


def pick_template(templates: Iterable[Any], machine_type: str) -> dict[str, Any] | None:
    """The OS template to create `machine_type` from (see DEFAULT_TEMPLATE_NAME)."""
    usable = [
        t
        for t in templates
        if isinstance(t, dict)
        and _text(t.get("id")) is not None
        and template_offers(t, machine_type) is not None
    ]
    for template in usable:
        if _text(template.get("name")) == DEFAULT_TEMPLATE_NAME:
            return template
    for template in usable:
        if template_offers(template, machine_type):
            return template
    return usable[0] if usable else None


def disk_size_gb(requested: float | None, template_default: float | None) -> int | None:
    """The smallest accepted disk size that holds the request and the template's default
    (ML-in-a-Box wants 100 GB); None if nothing is large enough."""
    floor = template_default if template_default and template_default > 0 else 0.0
    want = max(requested if requested else (floor or DEFAULT_DISK_GB), floor)
    for size in DISK_SIZES_GB:
        if size >= want:
            return size
    return None


def auto_shutdown_hours(hours: float) -> int:
    """Paperspace takes whole hours: round up, so a machine never stops before it was
    asked to."""
    return max(1, math.ceil(hours - 1e-9))


def create_body(
    *,
    name: str,
    machine_type: str,
    template_id: str,
    disk_gb: int,
    region: str,
    auto_terminate_hours: float | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "machineType": machine_type,
        "templateId": template_id,
        "diskSize": disk_gb,
        "region": region,
        "publicIpType": "dynamic",
        "startOnCreate": True,
    }
    if auto_terminate_hours:
        body["autoShutdownEnabled"] = True
        body["autoShutdownTimeout"] = auto_shutdown_hours(auto_terminate_hours)
    body["enableNvlink"] = machine_type in NVLINK_TYPES
    return body


# -- errors -----------------------------------------------------------------------------

_CAPACITY_WORDS: Final = (
    "capacity",
    "out of stock",
    "sold out",
    "not available",
    "unavailable",
    "no available",
    "no machines available",
)
_ERROR_KEYS: Final = frozenset({"code", "message", "issues", "details"})


def _error_message(body: Mapping[str, Any]) -> str | None:
    message = _text(body.get("message"))
    issues = body.get("issues") or body.get("details")
    if isinstance(issues, list):
        details = [
            m
            for m in (
                _text(i.get("message")) if isinstance(i, dict) else _text(i) for i in issues[:3]
            )
            if m
        ]
        if details:
            message = "; ".join([message, *details] if message else details)
    return message


def error_from_body(
    status: int, body: Any, *, key_env: str = "", secrets: Iterable[str | None] = ()
) -> ProviderError | None:
    """A tRPC-style `{code, message}` body as a ProviderError; None to let the shared
    status mapping decide. 2xx bodies only count when they are nothing but an error."""
    if not isinstance(body, dict):
        return None
    code = _text(body.get("code"))
    if code is None:
        return None
    if 200 <= status < 300 and not (set(body) <= _ERROR_KEYS and "message" in body):
        return None
    code = code.upper()
    said = _error_message(body)
    said = redact(said, secrets)[:300] if said else None
    suffix = f": {said}" if said else ""
    at = f"HTTP {status}, {code}"
    p = PAPERSPACE
    status_arg = status if status >= 400 else None
    if code == "UNAUTHORIZED":
        hint = f"; check {key_env}" if key_env else ""
        return AuthError(p, f"the API key was rejected ({at}){hint}", status=status_arg)
    if code == "FORBIDDEN":
        return AuthError(
            p,
            f"the API key may not do this ({at}){suffix}. Check the key's team; some "
            "machine types (H100, A100) need approval from Paperspace first",
            status=status_arg,
        )
    if code == "NOT_FOUND":
        return NotFound(p, f"not found ({at}){suffix}", status=status_arg)
    if code == "TOO_MANY_REQUESTS":
        if status == 429:
            return None  # the shared mapping reads Retry-After, which this body lacks
        return RateLimited(p, f"rate limited ({at}){suffix}", status=status_arg)
    if code in ("INTERNAL_SERVER_ERROR", "TIMEOUT", "SERVICE_UNAVAILABLE", "BAD_GATEWAY"):
        return ProviderUnavailable(p, f"server error ({at}){suffix}", status=status_arg)
    if said and any(word in said.lower() for word in _CAPACITY_WORDS):
        return CapacityError(
            p,
            f"no capacity for this machine type ({at}){suffix}; try another region or machine type",
            status=status_arg,
        )
    if code in (
        "BAD_REQUEST",
        "CONFLICT",
        "PRECONDITION_FAILED",
        "UNPROCESSABLE_CONTENT",
        "PARSE_ERROR",
        "PAYLOAD_TOO_LARGE",
        "METHOD_NOT_SUPPORTED",
        "NOT_IMPLEMENTED",
        "PAYMENT_REQUIRED",
    ):
        # e.g. "This machine is currently starting.": the provider's words say it all.
        return InvalidRequest(p, said or f"request refused ({at})", status=status_arg)
    return None
