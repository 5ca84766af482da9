"""Lambda Cloud bodies -> domain objects (API_NOTES.md section 3). Pure: no IO.

Every success body is `{"data": ...}`; every error body is
`{"error": {"code", "message", "suggestion"?}}`, and only `code` is branched on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from gpucm.domain.models import Availability, Instance, InstanceStatus, Offer, offer_id
from gpucm.domain.provider_names import LAMBDA_LABS
from gpucm.providers.base import FileSystem, MachineImage, Region
from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    redact,
)
from gpucm.providers.values import kind, nonneg, text, whole

log = logging.getLogger(__name__)

SSH_USER = "ubuntu"  # Lambda Stack images log in as ubuntu
SSH_PORT = 22

# Lambda says only whether a region has capacity for a type, not how much: a region
# that has some is `medium` (stock exists; its depth is not said, so neither low nor
# high is claimed), and a type no region has is `none`. Launches can still fail for
# capacity between the listing and the launch.
IN_STOCK: Availability = "medium"

STATUS_TABLE: dict[str, InstanceStatus] = {
    "booting": "provisioning",
    "active": "running",
    "unhealthy": "error",
    "terminating": "terminated",
    "terminated": "terminated",
    # A preempted VM is gone for good; Lambda has no resume.
    "preempted": "terminated",
}

# No Lambda instance type has more GPUs than this; a count beyond it is a broken entry,
# and a big enough one cannot even be divided into a price per GPU.
MAX_GPUS_PER_OFFER = 4096

_MEMORY_RE = re.compile(r"\(\s*(\d+(?:\.\d+)?)\s*GB", re.IGNORECASE)
_TYPE_COUNT_RE = re.compile(r"^gpu_(\d+)x_")


class _Skip(Exception):
    """One row we cannot use; the reason goes to the DEBUG log."""


def normalise_status(raw: str | None) -> InstanceStatus:
    """Lambda's instance status -> gpucm's. An unknown status shows as error, so a new
    state is looked at rather than taken for a healthy machine."""
    if not raw:
        return "error"
    return STATUS_TABLE.get(raw.strip().lower(), "error")


# --- small readers ---------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _data(body: Any, what: str) -> Any:
    if not isinstance(body, dict):
        raise BadResponse(LAMBDA_LABS, f"answered {what} with {kind(body)}, not a JSON object")
    if "data" not in body:
        raise BadResponse(LAMBDA_LABS, f"answered {what} without its 'data' field")
    return body["data"]


def _is_cpu(description: Any) -> bool:
    return isinstance(description, str) and description.strip().upper() in ("N/A", "NA", "NONE")


def parse_gpu_description(description: Any) -> tuple[str, float | None] | None:
    """`"H100 (80 GB SXM5)"` -> ("H100 (80 GB SXM5)", 80.0); CPU types ("N/A") -> None.

    The whole description is kept as the GPU name: the catalog resolves Lambda's
    spelling, and the parenthesis carries the variant (SXM5 vs PCIe, 40 vs 80 GB).
    """
    name = text(description)
    if name is None or _is_cpu(name):
        return None
    match = _MEMORY_RE.search(name)
    memory = nonneg(match.group(1)) if match else None
    return name, memory or None


# --- offers ------------------------------------------------------------------------------


def _regions(entry: dict[str, Any]) -> list[tuple[str, str | None]]:
    raw = entry.get("regions_with_capacity_available")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _Skip("regions_with_capacity_available is not a list")
    seen: dict[str, str | None] = {}
    for item in raw:
        region = _dict(item)
        name = text(region.get("name"))
        if name is None:
            log.debug("lambda: skipped a region without a name")
            continue
        seen.setdefault(name, text(region.get("description")))
    return list(seen.items())


def _type_offers(type_name: str, entry: Any, fetched_at: datetime) -> list[Offer]:
    if not isinstance(entry, dict):
        raise _Skip("the entry is not an object")
    itype = entry.get("instance_type")
    if not isinstance(itype, dict):
        raise _Skip("no instance_type object")
    specs = _dict(itype.get("specs"))
    gpu = parse_gpu_description(itype.get("gpu_description"))
    count = whole(specs.get("gpus"))
    if count is None:
        # The type name spells the count ("gpu_8x_h100_sxm5") when specs do not.
        match = _TYPE_COUNT_RE.match(type_name)
        count = int(match.group(1)) if match else None
    if count == 0 or (gpu is None and _is_cpu(itype.get("gpu_description"))):
        return []  # CPU-only type: not a GPU offer
    if gpu is None:
        raise _Skip("no GPU description")
    if count is None:
        raise _Skip("no GPU count")
    if count > MAX_GPUS_PER_OFFER:
        raise _Skip(f"an implausible GPU count ({count:.3g})")
    cents = nonneg(itype.get("price_cents_per_hour"))
    if cents is None:
        raise _Skip("no price")
    gpu_name, memory = gpu
    regions = _regions(entry)
    common: dict[str, Any] = {
        "provider": LAMBDA_LABS,
        "gpu_name": gpu_name,
        "gpu_count": count,
        "gpu_memory_gb": memory,
        "price_per_hour": round(cents / 100, 4),
        "vcpus": nonneg(specs.get("vcpus")),
        "ram_gb": nonneg(specs.get("memory_gib")),
        "storage_gb": nonneg(specs.get("storage_gib")),
        "reliability": None,
        "verified": True,
        "fetched_at": fetched_at,
    }
    if not regions:
        # Sold out everywhere: kept, so the type stays visible (and watchable) as
        # unavailable. No region means nothing to launch into.
        return [
            Offer(
                id=offer_id(LAMBDA_LABS, type_name),
                provider_id=type_name,
                region="",
                availability="none",
                provider_data={"instance_type": type_name, "region": ""},
                **common,
            )
        ]
    return [
        Offer(
            id=offer_id(LAMBDA_LABS, f"{type_name}@{region}"),
            provider_id=f"{type_name}@{region}",
            region=region,
            availability=IN_STOCK,
            provider_data={
                "instance_type": type_name,
                "region": region,
                "region_description": description,
            },
            **common,
        )
        for region, description in regions
    ]


def parse_offers(body: Any, fetched_at: datetime) -> list[Offer]:
    """`GET /instance-types` -> one offer per (type, region with capacity), plus one
    unavailable, region-less offer per GPU type sold out everywhere.

    CPU-only types give no offers, and that is no error. But an answer whose every type
    is malformed is a BadResponse: the API has changed, and the last good offers must
    stay rather than be replaced by nothing.
    """
    data = _data(body, "GET /instance-types")
    if not isinstance(data, dict):
        raise BadResponse(
            LAMBDA_LABS,
            f"answered GET /instance-types with 'data' as {kind(data)}, "
            "not a map of instance types",
        )
    offers: list[Offer] = []
    first_problem: str | None = None
    for key, entry in data.items():
        type_name = text(key)
        if type_name is None:
            log.debug("lambda: skipped an instance type without a name")
            first_problem = first_problem or "an instance type has no name"
            continue
        try:
            offers.extend(_type_offers(type_name, entry, fetched_at))
        except (_Skip, ValueError, TypeError) as exc:
            # pydantic's ValidationError is a ValueError
            log.debug("lambda: skipped instance type %r: %s", type_name, _short(exc))
            if first_problem is None:
                reason = str(exc) if isinstance(exc, _Skip) else "invalid values"
                first_problem = f"{type_name[:60]!r}: {reason}"
    if not offers and first_problem is not None:
        raise BadResponse(
            LAMBDA_LABS,
            f"none of the {len(data)} instance types in GET /instance-types could be read "
            f"(first: {first_problem}); the API may have changed",
        )
    return offers


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


# --- instances ---------------------------------------------------------------------------


def _datetime(value: Any) -> datetime | None:
    stamp = text(value)
    if stamp is None:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_instance(row: Any) -> Instance:
    """One Lambda instance object. Raises BadResponse if it has no id."""
    if not isinstance(row, dict):
        raise BadResponse(LAMBDA_LABS, "sent an instance that is not a JSON object")
    pid = text(row.get("id"))
    if pid is None:
        raise BadResponse(LAMBDA_LABS, "sent an instance without an id")
    itype = _dict(row.get("instance_type"))
    specs = _dict(itype.get("specs"))
    region = _dict(row.get("region"))
    gpu = parse_gpu_description(itype.get("gpu_description"))
    cents = nonneg(itype.get("price_cents_per_hour"))
    ip = text(row.get("ip"))
    raw_status = text(row.get("status"))
    keys = row.get("ssh_key_names")
    # No jupyter_token / jupyter_url here: they are credentials.
    data: dict[str, Any] = {
        "instance_type": text(itype.get("name")),
        "region": text(region.get("name")),
        "region_description": text(region.get("description")),
        "private_ip": text(row.get("private_ip")),
        "hostname": text(row.get("hostname")),
        "ssh_key_names": _names(keys),
        "file_system_names": _names(row.get("file_system_names")),
    }
    return Instance(
        id=f"{LAMBDA_LABS}:{pid}",
        provider=LAMBDA_LABS,
        provider_id=pid,
        name=text(row.get("name")) or "",
        status=normalise_status(raw_status),
        raw_status=raw_status,
        gpu_name=gpu[0] if gpu else None,
        gpu_count=whole(specs.get("gpus")) or 0,
        cpu_count=nonneg(specs.get("vcpus")),
        ram_gb=nonneg(specs.get("memory_gib")),
        storage_gb=nonneg(specs.get("storage_gib")),
        price_per_hour=round(cents / 100, 4) if cents is not None else None,
        region=data["region"],
        ssh_host=ip,
        ssh_port=SSH_PORT,
        ssh_user=SSH_USER,
        public_ip=ip,
        created_at=_datetime(row.get("created_at")),
        status_reason="preempted" if (raw_status or "").lower() == "preempted" else None,
        provider_data={k: v for k, v in data.items() if v is not None},
    )


def _names(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [n for n in (text(v) for v in value) if n]


def parse_instances(body: Any) -> list[Instance]:
    """`GET /instances` -> the account's instances; unusable rows are skipped."""
    data = _data(body, "GET /instances")
    if not isinstance(data, list):
        raise BadResponse(
            LAMBDA_LABS,
            f"answered GET /instances with 'data' as {kind(data)}, not a list",
        )
    instances: list[Instance] = []
    for row in data:
        try:
            instances.append(parse_instance(row))
        except (BadResponse, ValueError, TypeError) as exc:
            log.debug("lambda: skipped an instance: %s", _short(exc))
    return instances


def parse_instance_body(body: Any, what: str) -> Instance:
    """`GET /instances/{id}` -> the instance."""
    return parse_instance(_data(body, what))


def parse_launch_ids(body: Any) -> list[str]:
    """`POST /instance-operations/launch` -> the new instance ids."""
    what = "the launch"
    data = _data(body, what)
    ids = _dict(data).get("instance_ids")
    found = [i for i in ids if isinstance(i, str) and i.strip()] if isinstance(ids, list) else []
    if not found:
        raise BadResponse(
            LAMBDA_LABS,
            "accepted the launch but named no instance id; check "
            "https://cloud.lambda.ai/instances before launching again",
        )
    return found


def parse_ssh_key_names(body: Any) -> list[str]:
    """`GET /ssh-keys` -> the key names on the account."""
    data = _data(body, "GET /ssh-keys")
    if not isinstance(data, list):
        raise BadResponse(
            LAMBDA_LABS,
            f"answered GET /ssh-keys with 'data' as {kind(data)}, not a list",
        )
    names = (text(_dict(key).get("name")) for key in data)
    return list(dict.fromkeys(n for n in names if n))


def check_operation(body: Any, what: str, field: str) -> list[str]:
    """restart / terminate -> the ids Lambda says it acted on."""
    data = _data(body, what)
    rows = _dict(data).get(field)
    if not isinstance(rows, list):
        raise BadResponse(LAMBDA_LABS, f"answered {what} without its '{field}' list")
    return [i for i in (text(_dict(r).get("id")) for r in rows) if i]


def _rows(body: Any, what: str) -> list[dict[str, Any]]:
    data = _data(body, what)
    if not isinstance(data, list):
        raise BadResponse(LAMBDA_LABS, f"answered {what} with 'data' as {kind(data)}, not a list")
    return [row for row in data if isinstance(row, dict)]


def _region(value: Any) -> Region | None:
    row = _dict(value)
    name = text(row.get("name"))
    return Region(name, text(row.get("description")) or name) if name else None


def parse_regions(body: Any) -> list[Region]:
    """`GET /regions` -> the regions Lambda runs."""
    regions = (_region(row) for row in _rows(body, "GET /regions"))
    return list({r.name: r for r in regions if r is not None}.values())


def parse_file_systems(body: Any) -> list[FileSystem]:
    """`GET /file-systems` -> the account's shared filesystems; rows without a name or
    region are skipped (a launch names a filesystem in its own region)."""
    found: list[FileSystem] = []
    for row in _rows(body, "GET /file-systems"):
        name = text(row.get("name"))
        region = _region(row.get("region"))
        if name is None or region is None:
            log.debug("lambda: skipped a filesystem without a name or region")
            continue
        found.append(
            FileSystem(
                name=name,
                region=region.name,
                id=text(row.get("id")),
                mount_point=text(row.get("mount_point")),
                in_use=row.get("is_in_use") is True,
                bytes_used=whole(row.get("bytes_used")),
            )
        )
    return found


def parse_images(body: Any) -> list[MachineImage]:
    """`GET /images` -> the OS images Lambda offers, per region."""
    found: list[MachineImage] = []
    for row in _rows(body, "GET /images"):
        image_id = text(row.get("id"))
        region = _region(row.get("region"))
        if image_id is None:
            continue
        found.append(
            MachineImage(
                id=image_id,
                name=text(row.get("name")) or image_id,
                family=text(row.get("family")),
                version=text(row.get("version")),
                description=text(row.get("description")),
                architecture=text(row.get("architecture")),
                region=region.name if region else None,
            )
        )
    return found


# --- errors ------------------------------------------------------------------------------


def _error_parts(body: Any) -> tuple[str, str] | None:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    code = text(error.get("code"))
    if code is None:
        return None
    said = " ".join(t for t in (text(error.get("message")), text(error.get("suggestion"))) if t)
    return code, said[:300]


def map_error(status: int, body: Any, secrets: Iterable[str | None]) -> ProviderError | None:
    """Lambda's error codes -> gpucm's error types, in words a person can act on; None
    leaves it to the shared mapping.

    Branches on `code` only (Lambda: "avoid relying on the values of message or
    suggestion"): the message is shown, never parsed. A 429 or a 5xx is left to the
    shared layer, which owns retries and Retry-After. Codes from Lambda's OpenAPI spec
    1.10 (tests/fixtures/providers/lambda/error_*.json).
    """
    if status == 429 or status >= 500:
        return None
    if 200 <= status < 300 and isinstance(body, dict) and "data" in body:
        return None
    parts = _error_parts(body)
    if parts is None:
        return None
    code, said = parts
    said = redact(said, secrets)
    detail = f" (Lambda says: {said})" if said else ""
    p = LAMBDA_LABS
    if code == "instance-operations/launch/insufficient-capacity":
        return CapacityError(
            p,
            f"no capacity for this instance type in this region right now{detail}; "
            "pick another region or offer, or try again later",
            status=status,
        )
    if code == "instance-operations/launch/file-system-in-wrong-region":
        return InvalidRequest(
            p,
            f"a filesystem to attach is in another region than the instance{detail}; "
            "a filesystem can only be attached in its own region: pick an offer there, "
            "or leave the filesystem out",
            status=status,
        )
    if code == "global/invalid-api-key":
        return AuthError(
            p,
            "the API key is invalid, expired or deleted; check LAMBDA_API_KEY or create "
            "a new key at https://cloud.lambda.ai/api-keys",
            status=status,
        )
    if code == "global/invalid-address":
        return AuthError(
            p,
            f"Lambda will not launch until the account's billing address is valid{detail}; "
            "correct it at https://cloud.lambda.ai (Settings, Billing). The API key is fine",
            status=status,
        )
    if code == "global/account-inactive":
        return AuthError(
            p,
            f"the account is inactive{detail}; verify the email address and add a payment "
            "method at https://cloud.lambda.ai, or contact Lambda support",
            status=status,
        )
    if code == "global/forbidden":
        return AuthError(
            p,
            f"the API key may not do this{detail}; check the key's team and role at "
            "https://cloud.lambda.ai/api-keys",
            status=status,
        )
    if code in ("global/object-does-not-exist", "global/not-found"):
        return NotFound(p, f"not found{detail}", status=status)
    if code == "global/quota-exceeded":
        return InvalidRequest(
            p,
            f"account quota exceeded{detail}; terminate an instance or ask Lambda "
            "support to raise the limit",
            status=status,
        )
    if code in ("global/invalid-parameters", "global/conflict", "global/duplicate"):
        return InvalidRequest(p, f"request refused ({code}){detail}", status=status)
    if code == "global/internal-error":
        return ProviderUnavailable(
            p, f"internal error at Lambda{detail}; try again shortly", status=status
        )
    if code.startswith("provider/"):
        # An upstream service of Lambda's, not the request: outages, or capacity and
        # quota exhausted upstream (Lambda's spec, "Provider errors").
        if any(w in code for w in ("capacity", "exhaust", "insufficient")):
            return CapacityError(
                p,
                f"an upstream provider has no capacity ({code}){detail}; "
                "pick another region or offer",
                status=status,
            )
        return ProviderUnavailable(
            p,
            f"an upstream service Lambda relies on failed ({code}){detail}; try again shortly",
            status=status,
        )
    # A code this version does not know: Lambda's own words, by the HTTP status.
    if status == 401:
        return AuthError(p, f"the API key was rejected ({code}){detail}", status=status)
    if status == 403:
        return AuthError(p, f"Lambda refused this ({code}){detail}", status=status)
    if status == 404:
        return NotFound(p, f"not found ({code}){detail}", status=status)
    return InvalidRequest(p, f"request refused ({code}){detail}", status=status)
