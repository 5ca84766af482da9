"""Pure translation between Paperspace v1 API bodies and gpucm's domain objects.

No IO except reading the packaged machine-type catalogue. Everything here is fed fixtures
directly by the tests; `paperspace.PaperspaceAdapter` only adds HTTP around it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Final

from gpucm.domain.models import Availability, Instance, InstanceStatus, Offer, offer_id
from gpucm.domain.pricing import HOURS_PER_MONTH
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
from gpucm.providers.values import kind, number, text

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


def _when(value: object) -> datetime | None:
    stamp = text(value)
    if stamp is None:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
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
    label = text(row.get("machineType"))
    if label is None:
        raise ValueError("no machineType")
    regions = row.get("regions")
    if not isinstance(regions, list):
        raise ValueError(f"{label}: regions is not a list")
    count = number(row.get("gpuCount"))
    gpu_count = int(count) if count is not None else (_count_from_label(label) or 1)
    memory = number(row.get("gpuMemoryGb"))
    return MachineType(
        label=label,
        gpu_name=text(row.get("gpuModel")),
        gpu_count=max(gpu_count, 0),
        gpu_memory_gb=memory if memory else None,
        vcpus=number(row.get("cpus")),
        ram_gb=number(row.get("ramGb")),
        price_per_hour=number(row.get("pricePerHour")),
        regions=tuple(r for r in (text(x) for x in regions) if r is not None),
        storage_price_per_gb_month=number(row.get("storagePricePerGbMonth")),
        kind=text(row.get("kind")) or "gpu",
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
        storage_price_per_gb_month=number(body.get("storagePricePerGbMonth")),
        source=text(body.get("source")),
    )


@lru_cache(maxsize=1)
def load_catalogue() -> MachineCatalogue:
    """The catalogue packaged with gpucm (its `source` names where each row is from)."""
    raw = resources.files("gpucm.providers").joinpath(CATALOGUE_RESOURCE).read_text("utf-8")
    return parse_catalogue(json.loads(raw))


# -- pages and availability -------------------------------------------------------------


def parse_page(body: Any, what: str) -> tuple[list[Any], str | None]:
    """Items and next cursor of a `{hasMore, items, nextPage}` list answer."""
    if not isinstance(body, dict):
        raise _bad(f"answered {what} with {kind(body)}, not a JSON object")
    items = body.get("items")
    if not isinstance(items, list):
        raise _bad(f"answered {what} without an 'items' list")
    cursor = text(body.get("nextPage")) if body.get("hasMore") is True else None
    if body.get("hasMore") is True and cursor is None:
        log.debug("paperspace %s: hasMore without a nextPage cursor; stopping", what)
    return items, cursor


def template_offers(template: Any, machine_type: str) -> bool | None:
    """Whether an OS template runs on a machine type (`isAvailable`: the spec's "whether
    the template is available on this machine type", compatibility, never stock); None
    if the template does not list the type."""
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


def template_support(templates: Iterable[Any]) -> dict[str, bool]:
    """Machine type -> whether some OS template runs on it. Not stock: a sold-out type
    still shows true, which is why offers never take their availability from here.

    Templates that cannot be read are skipped; but if templates came and not one entry
    of any could be read, that is a BadResponse: the API has changed under gpucm.
    """
    items = list(templates)
    support: dict[str, bool] = {}
    unreadable = 0
    for template in items:
        entries = template.get("availableMachineTypes") if isinstance(template, dict) else None
        if not isinstance(entries, list):
            log.debug("paperspace os-templates: skipped an item without availableMachineTypes")
            unreadable += 1
            continue
        for entry in entries:
            label = text(entry.get("machineTypeLabel")) if isinstance(entry, dict) else None
            if label is None:
                unreadable += 1
                continue
            support[label] = support.get(label, False) or entry.get("isAvailable") is True
    if items and not support and unreadable:
        raise _bad(
            f"none of the {len(items)} OS templates in GET /os-templates listed machine "
            "types that could be read; the API may have changed"
        )
    return support


def machine_available(body: Any) -> bool | None:
    """`GET /machine-availability` -> whether machines of the type can be created in the
    region now (Paperspace's `{"available": bool}`); None when the answer says nothing."""
    flag = body.get("available") if isinstance(body, dict) else None
    return flag if isinstance(flag, bool) else None


# -- offers -----------------------------------------------------------------------------


def make_offer(
    machine_type: MachineType,
    region: str,
    fetched_at: datetime,
    default_storage_price: float | None = None,
    availability: Availability = "unknown",
) -> Offer | None:
    """One catalogue row in one region as an Offer, or None if the row cannot be one.
    Its availability is unknown unless a check for this type and region said."""
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
            availability=availability,
            fetched_at=fetched_at,
            provider_data={"machine_type": machine_type.label, "region": region},
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        log.debug("paperspace %s: skipped (%s)", pid, exc.__class__.__name__)
        return None


def build_offers(catalogue: MachineCatalogue, fetched_at: datetime) -> list[Offer]:
    """Catalogue GPU rows x their regions, each of unknown availability: Paperspace's
    listings say nothing about stock."""
    offers: list[Offer] = []
    for machine_type in catalogue.machine_types:
        if not machine_type.is_gpu:
            continue
        if machine_type.price_per_hour is None:
            log.debug("paperspace catalogue: %s has no price; skipped", machine_type.label)
            continue
        for region in machine_type.regions:
            offer = make_offer(
                machine_type, region, fetched_at, catalogue.storage_price_per_gb_month
            )
            if offer is not None:
                offers.append(offer)
    return offers


def parse_offers(
    templates_body: Any, fetched_at: datetime, catalogue: MachineCatalogue | None = None
) -> list[Offer]:
    """Offers from the packaged catalogue, once one `GET /os-templates` page has shown
    the API answering in the shape gpucm reads."""
    items, _ = parse_page(templates_body, "GET /os-templates")
    template_support(items)
    return build_offers(catalogue or load_catalogue(), fetched_at)


# -- machines ---------------------------------------------------------------------------


def _gpus(item: Mapping[str, Any], machine_type: MachineType | None) -> tuple[str | None, int]:
    accelerators = item.get("accelerators")
    names: list[str] = []
    count = 0
    if isinstance(accelerators, list):
        for acc in accelerators:
            name = text(acc.get("name")) if isinstance(acc, dict) else None
            if name is None:
                continue
            names.append(name)
            n = number(acc.get("count"))
            count += int(n) if n is not None and n >= 1 else 1
    if names:
        return names[0], count
    if machine_type is not None and machine_type.is_gpu:
        return machine_type.gpu_name, machine_type.gpu_count
    return None, 0


def _gib(value: object) -> float | None:
    amount = number(value)
    return round(amount / _GIB, 2) if amount is not None and amount >= 0 else None


def parse_machine(item: Any, catalogue: MachineCatalogue | None = None) -> Instance | None:
    """One machine as an Instance, or None (logged) if it has no id."""
    if not isinstance(item, dict):
        log.debug("paperspace machines: skipped an item that is not an object")
        return None
    pid = text(item.get("id"))
    if pid is None:
        log.debug("paperspace machines: skipped an item without an id")
        return None
    catalogue = catalogue or load_catalogue()
    label = text(item.get("machineType"))
    machine_type = catalogue.get(label) if label else None
    gpu_name, gpu_count = _gpus(item, machine_type)
    raw = text(item.get("state"))
    status = normalise_status(raw)
    if _when(item.get("dtDeleted")) is not None:
        status = "terminated"
    region = text(item.get("region"))
    price = number(item.get("usageRate"))
    if price is None and machine_type is not None:
        price = machine_type.price_per_hour
    public_ip = text(item.get("publicIp"))
    storage_rate = number(item.get("storageRate"))
    data: dict[str, Any] = {
        "machine_type": label,
        "region": region,
        "os": text(item.get("os")),
        "private_ip": text(item.get("privateIp")),
        "public_ip_type": text(item.get("publicIpType")),
        "storage_rate": number(item.get("storageRate")),
        "storage_used_gb": _gib(item.get("storageUsed")),
        "auto_shutdown_enabled": item.get("autoShutdownEnabled") is True,
        "auto_shutdown_timeout_hours": number(item.get("autoShutdownTimeout")),
    }
    try:
        return Instance(
            id=f"{PAPERSPACE}:{pid}",
            provider=PAPERSPACE,
            provider_id=pid,
            name=text(item.get("name")) or "",
            status=status,
            raw_status=raw,
            gpu_name=gpu_name,
            gpu_count=gpu_count,
            cpu_count=number(item.get("cpus")),
            ram_gb=_gib(item.get("ram")),
            storage_gb=_gib(item.get("storageTotal")),
            price_per_hour=price,
            # `storageRate`: by our reading a monthly rate (its unit is undocumented);
            # the disk bills while the machine is off
            stopped_per_hour=storage_rate / HOURS_PER_MONTH if storage_rate else None,
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
    message = text(error) or (text(error.get("message")) if isinstance(error, dict) else None)
    if message is not None:
        return message
    if text(event.get("state")) == "error":
        return f"the {text(event.get('name')) or 'machine'} operation failed"
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
    if isinstance(event, dict) and text(event.get("id")):
        extra["create_event_id"] = text(event.get("id"))
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
    """The OS template to create `machine_type` from: DEFAULT_TEMPLATE_NAME if it runs
    on the type, else the first template that does; None if none does."""
    usable = [
        t
        for t in templates
        if isinstance(t, dict)
        and text(t.get("id")) is not None
        and template_offers(t, machine_type) is True
    ]
    for template in usable:
        if text(template.get("name")) == DEFAULT_TEMPLATE_NAME:
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


# One key per line in authorized_keys: a type, the base64 key, an optional comment. Any
# other text is refused, so a key can never carry shell syntax into the startup script.
_PUBLIC_KEY = re.compile(
    r"(?P<key>(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)"
    r" [A-Za-z0-9+/]{16,}={0,3})(?: (?P<comment>[A-Za-z0-9@._+:-]{1,100}))?"
)
SSH_SCRIPT_PREFIX: Final = "gpucm-ssh-key-"


def public_key_line(value: str) -> str:
    """An OpenSSH public key as one safe authorized_keys line; InvalidRequest if it is
    not one. A comment with other characters than letters, digits and @._+:- is left
    out (it is only a label)."""
    words = value.strip().split()
    match = _PUBLIC_KEY.fullmatch(" ".join(words[:2])) if len(words) >= 2 else None
    if match is None:
        raise InvalidRequest(
            PAPERSPACE,
            "the SSH public key is not an OpenSSH public key (ssh-ed25519 AAAA... or "
            "ssh-rsa AAAA...); give the contents of a .pub file",
        )
    comment = words[2] if len(words) == 3 else None
    if comment and _PUBLIC_KEY.fullmatch(f"{match['key']} {comment}"):
        return f"{match['key']} {comment}"
    return match["key"]


def ssh_key_script(public_key: str) -> tuple[str, str]:
    """(name, script) of the startup script that installs `public_key` for the
    `paperspace` user on first boot (SkyPilot does the same: Paperspace's API has no
    SSH-key field). Named after the key, so each key's script is made once and reused."""
    line = public_key_line(public_key)
    digest = hashlib.sha256(line.split()[1].encode()).hexdigest()[:12]
    script = "\n".join(
        (
            "#!/bin/bash",
            "# gpucm: authorise the SSH key of the person who launched this machine",
            "set -e",
            "install -d -m 700 -o paperspace -g paperspace /home/paperspace/.ssh",
            "keys=/home/paperspace/.ssh/authorized_keys",
            f"grep -qxF '{line}' \"$keys\" 2>/dev/null || printf '%s\\n' '{line}' >> \"$keys\"",
            'chown paperspace:paperspace "$keys"',
            'chmod 600 "$keys"',
            "",
        )
    )
    return SSH_SCRIPT_PREFIX + digest, script


def startup_script_id(items: Iterable[Any], name: str) -> str | None:
    """The id of the account's startup script called `name`, if there is one."""
    for item in items:
        if isinstance(item, dict) and text(item.get("name")) == name:
            script_id = text(item.get("id"))
            if script_id:
                return script_id
    return None


def create_body(
    *,
    name: str,
    machine_type: str,
    template_id: str,
    disk_gb: int,
    region: str,
    auto_shutdown_after_hours: float | None,
    startup_script: str | None = None,
) -> dict[str, Any]:
    """The `POST /machines` body. Paperspace's auto-shutdown stops the machine after the
    hours given (shutdown, not delete): it stays in the account, and its disk and any
    static IP keep billing until it is terminated."""
    body: dict[str, Any] = {
        "name": name,
        "machineType": machine_type,
        "templateId": template_id,
        "diskSize": disk_gb,
        "region": region,
        "publicIpType": "dynamic",
        "startOnCreate": True,
    }
    if auto_shutdown_after_hours:
        body["autoShutdownEnabled"] = True
        body["autoShutdownTimeout"] = auto_shutdown_hours(auto_shutdown_after_hours)
    if startup_script:
        body["startupScriptId"] = startup_script
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
    message = text(body.get("message"))
    issues = body.get("issues") or body.get("details")
    if isinstance(issues, list):
        details = [
            m
            for m in (
                text(i.get("message")) if isinstance(i, dict) else text(i) for i in issues[:3]
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
    code = text(body.get("code"))
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
