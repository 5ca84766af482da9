"""Pure translation of RunPod GraphQL bodies into domain objects (API_NOTES.md section 2).

No IO here: the adapter in runpod.py sends the requests and hands the parsed JSON to
these functions, so tests can feed the recorded fixtures straight in.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gpucm.domain.models import Instance, InstanceStatus, Offer, offer_id
from gpucm.domain.provider_names import RUNPOD
from gpucm.providers.demo import slug
from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)

# RunPod bills container and volume disk separately from the GPU price, at about
# $0.10/GB-month while the pod runs (volume disk of stopped pods costs more). The
# GraphQL API does not expose the rate, so it is a documented constant.
STORAGE_PRICE_PER_GB_MONTH = 0.10

SSH_USER = "root"
GPU_COUNTS = (1, 2, 4, 8)
STOCK_LEVELS = frozenset({"high", "medium", "low"})
SECURE = "SECURE"
COMMUNITY = "COMMUNITY"
CLOUD_TYPES = (SECURE, COMMUNITY)

# (cloud type, offered flag, on-demand price, spot price, max GPU count) per GPU type
_CLOUD_FIELDS = (
    (SECURE, "secureCloud", "securePrice", "secureSpotPrice", "maxGpuCountSecureCloud"),
    (
        COMMUNITY,
        "communityCloud",
        "communityPrice",
        "communitySpotPrice",
        "maxGpuCountCommunityCloud",
    ),
)

# desiredStatus (GraphQL PodStatus) and the REST v2 `status` strings; see normalise_status.
STATUS_TABLE: dict[str, InstanceStatus] = {
    "CREATED": "provisioning",
    "PROVISIONING": "provisioning",
    "STARTING": "provisioning",
    "RESTARTING": "provisioning",
    "RUNNING": "running",
    "EXITED": "stopped",
    "PAUSED": "stopped",
    "STOPPED": "stopped",
    "ERROR": "error",
    "DEAD": "error",
    "TERMINATED": "terminated",
}

_CAPACITY_PHRASES = (
    "no longer any instances available",
    "not enough free gpus",
    "no instances available",
    "no available instances",
)
_AUTH_PHRASES = (
    "unauthorized",
    "unauthorised",
    "unauthenticated",
    "not authorized",
    "not authorised",
    "invalid api key",
    "api key is invalid",
    "permission denied",
)
_AUTH_CODES = frozenset({"UNAUTHENTICATED", "UNAUTHORIZED", "FORBIDDEN"})
_UNAVAILABLE_PHRASES = ("something went wrong",)
_NOT_FOUND_PHRASES = ("not found", "does not exist", "no pod found")


# -- small readers: every value from RunPod may be null or of an unexpected type ----------


def num(value: Any) -> float | None:
    """A finite number from a JSON value (numbers or numeric strings), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def whole(value: Any) -> int | None:
    number = num(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _scaled(value: float | None, factor: float, places: int) -> float | None:
    """value x factor, rounded; None when unknown or too large to be a number."""
    if value is None:
        return None
    result = value * factor
    return round(result, places) if math.isfinite(result) else None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def graphql_data(body: Any, what: str) -> dict[str, Any]:
    """The `data` object of a GraphQL answer, or BadResponse naming what was wrong."""
    if not isinstance(body, dict):
        raise BadResponse(RUNPOD, f"answered {what} with {_kind(body)} instead of a JSON object")
    data = body.get("data")
    if not isinstance(data, dict):
        raise BadResponse(RUNPOD, f"answered {what} without a `data` object (got {_kind(data)})")
    return data


def mutation_result(body: Any, field: str) -> Any:
    """The value of one mutation field; the field must be present (it may be null)."""
    data = graphql_data(body, field)
    if field not in data:
        raise BadResponse(RUNPOD, f"answered {field} without `data.{field}`")
    return data[field]


# -- errors -------------------------------------------------------------------------------


def graphql_error(
    body: Any,
    status: int,
    hint: str = "",
    *,
    clean: Callable[[str], str] = str,
) -> ProviderError | None:
    """The error a GraphQL `errors` array stands for, or None if the body has none.

    RunPod reports most failures as HTTP 200 with `errors`. `hint` is appended to auth
    failures (which environment variable to check); `clean` scrubs secrets from RunPod's
    own words before they reach a message.
    """
    if not isinstance(body, dict) or not body.get("errors"):
        return None
    errors = body["errors"]
    items = errors if isinstance(errors, list) else [errors]
    messages: list[str] = []
    codes: set[str] = set()
    for item in items:
        if isinstance(item, dict):
            message = text(item.get("message"))
            extensions = item.get("extensions")
            if isinstance(extensions, dict) and isinstance(extensions.get("code"), str):
                codes.add(extensions["code"].upper())
        else:
            message = text(str(item))
        if message and message not in messages:
            messages.append(message)
    said = clean("; ".join(messages) or "an unspecified error")
    if len(said) > 300:
        said = said[:297] + "..."
    lowered = said.lower()
    http = status if status >= 400 else None
    if any(p in lowered for p in _CAPACITY_PHRASES):
        return CapacityError(
            RUNPOD, f"no capacity for this configuration ({said}); pick another offer", status=http
        )
    if codes & _AUTH_CODES or any(p in lowered for p in _AUTH_PHRASES):
        return AuthError(RUNPOD, f"the API key was rejected ({said}){hint}", status=http)
    if any(p in lowered for p in _NOT_FOUND_PHRASES):
        return NotFound(RUNPOD, f"not found ({said})", status=http)
    if any(p in lowered for p in _UNAVAILABLE_PHRASES):
        return ProviderUnavailable(
            RUNPOD, f"internal error at the provider ({said}); try again later", status=http
        )
    return InvalidRequest(RUNPOD, f"the request was refused: {said}", status=http)


# -- offers -------------------------------------------------------------------------------


def gpu_type_rows(body: Any) -> list[Any]:
    rows = graphql_data(body, "the gpuTypes query").get("gpuTypes")
    if not isinstance(rows, list):
        raise BadResponse(
            RUNPOD,
            f"answered the gpuTypes query without a `data.gpuTypes` list (got {_kind(rows)})",
        )
    return rows


def _type_id(row: Any) -> str | None:
    if not isinstance(row, dict):
        return None
    type_id = text(row.get("id"))
    if type_id is None or type_id.lower() == "unknown":
        return None
    return type_id


def display_name(row: Mapping[str, Any], type_id: str) -> str:
    return text(row.get("displayName")) or type_id


def base_slugs(rows: Iterable[Any]) -> dict[str, str]:
    """Readable offer-id stems per GPU type id: the display name's slug, or the type id's
    slug for every type whose display name collides with another's."""
    named: dict[str, str] = {}
    for row in rows:
        type_id = _type_id(row)
        if type_id is not None:
            named[type_id] = slug(display_name(row, type_id)) or slug(type_id)
    taken = Counter(named.values())
    return {tid: (s if taken[s] == 1 else slug(tid)) for tid, s in named.items()}


def is_available(lowest_price: Mapping[str, Any], gpu_count: int) -> bool:
    stock = text(lowest_price.get("stockStatus"))
    if stock is None or stock.lower() not in STOCK_LEVELS:
        return False
    counts = lowest_price.get("availableGpuCounts")
    if not isinstance(counts, list):
        return True
    return gpu_count in {whole(c) for c in counts}


def type_offers(
    row: Mapping[str, Any],
    base: str,
    fetched_at: datetime,
    *,
    queried_count: int = 1,
) -> list[Offer]:
    """Every (cloud, GPU count) offer of one GPU type.

    `queried_count` is the gpuCount the row's `lowestPrice` was asked for: its minVcpu
    and minMemory describe a pod of that many GPUs, so they are scaled per GPU.
    """
    type_id = _type_id(row)
    if type_id is None:
        raise ValueError("no usable `id`")
    name = display_name(row, type_id)
    memory = num(row.get("memoryInGb"))
    lowest = row.get("lowestPrice")
    lowest = lowest if isinstance(lowest, dict) else {}
    vcpu_total = num(lowest.get("minVcpu"))
    ram_total = num(lowest.get("minMemory"))
    country = text(lowest.get("countryCode"))

    offers: list[Offer] = []
    for cloud, flag, price_key, spot_key, max_key in _CLOUD_FIELDS:
        price = num(row.get(price_key))
        if row.get(flag) is False or price is None or price <= 0:
            continue
        spot = num(row.get(spot_key))
        max_count = whole(row.get(max_key))
        if max_count is None:
            max_count = whole(row.get("maxGpuCount"))
        if max_count is None:
            # The price itself was quoted for one GPU, so that much is on offer.
            max_count = 1
        for count in GPU_COUNTS:
            if count > max_count or not math.isfinite(price * count):
                break  # a price so large that more GPUs overflow is no real price
            scale = count / queried_count
            provider_id = f"{base}-{cloud.lower()}-{count}"
            offers.append(
                Offer(
                    id=offer_id(RUNPOD, provider_id),
                    provider=RUNPOD,
                    provider_id=provider_id,
                    gpu_name=name,
                    gpu_count=count,
                    gpu_memory_gb=memory,
                    price_per_hour=round(price * count, 6),
                    spot_price_per_hour=_scaled(spot, count, 6) if spot and spot > 0 else None,
                    storage_price_per_gb_month=STORAGE_PRICE_PER_GB_MONTH,
                    vcpus=_scaled(vcpu_total, scale, 3),
                    ram_gb=_scaled(ram_total, scale, 3),
                    storage_gb=None,
                    region="",
                    country=country,
                    reliability=None,
                    cuda_version=None,
                    verified=cloud == SECURE,
                    available=is_available(lowest, count),
                    fetched_at=fetched_at,
                    provider_data={
                        "gpu_type_id": type_id,
                        "cloud_type": cloud,
                        "gpu_count": count,
                    },
                )
            )
    return offers


def parse_offers(body: Any, fetched_at: datetime) -> list[Offer]:
    """Offers from the unfiltered gpuTypes query (lowestPrice asked for gpuCount 1).

    Types without a price give no offers, and that is no error. But an answer whose
    every row is malformed (no `id`, not an object) is a BadResponse: the API has
    changed, and the last good offers must stay rather than be replaced by nothing.
    """
    rows = gpu_type_rows(body)
    stems = base_slugs(rows)
    offers: list[Offer] = []
    seen: set[str] = set()
    first_problem: str | None = None
    for index, row in enumerate(rows):
        type_id = _type_id(row)
        if type_id is None:
            if isinstance(row, dict):
                placeholder = text(row.get("id")) is not None
                why = "the `unknown` placeholder" if placeholder else "no `id`"
                problem = f"gpuTypes[{index}] has no `id`"
            else:
                placeholder, why = False, _kind(row)
                problem = f"gpuTypes[{index}] is {why}"
            log.debug("runpod: skipping gpuTypes[%d]: %s, not a GPU type", index, why)
            if not placeholder:
                first_problem = first_problem or problem
            continue
        try:
            built = type_offers(row, stems[type_id], fetched_at)
        except (KeyError, TypeError, ValueError) as exc:
            log.debug("runpod: skipping GPU type %r: %s", type_id, exc)
            first_problem = first_problem or f"GPU type {type_id!r} is malformed"
            continue
        for offer in built:
            if offer.provider_id in seen:
                log.debug("runpod: skipping duplicate offer id %r", offer.provider_id)
                continue
            seen.add(offer.provider_id)
            offers.append(offer)
    if not offers and first_problem is not None:
        raise BadResponse(
            RUNPOD,
            f"none of the {len(rows)} GPU types in the gpuTypes answer could be read "
            f"(first: {first_problem}); the API may have changed",
        )
    return offers


def requote(body: Any, offer: Offer, fetched_at: datetime) -> Offer | None:
    """`offer` rebuilt from a gpuTypes answer filtered to its type with lowestPrice for
    its GPU count; None if the type, cloud or count is no longer offered or in stock."""
    type_id = offer.provider_data.get("gpu_type_id")
    cloud = offer.provider_data.get("cloud_type")
    count = offer.gpu_count
    suffix = f"-{str(cloud).lower()}-{count}"
    base = offer.provider_id.removesuffix(suffix)
    for row in gpu_type_rows(body):
        if _type_id(row) != type_id:
            continue
        try:
            built = type_offers(row, base, fetched_at, queried_count=count)
        except (KeyError, TypeError, ValueError) as exc:
            log.debug("runpod: cannot re-quote %r: %s", type_id, exc)
            return None
        for candidate in built:
            if candidate.provider_data["cloud_type"] == cloud and candidate.gpu_count == count:
                return candidate if candidate.available else None
    return None


# -- pods -----------------------------------------------------------------------------------


def normalise_status(raw: str | None, *, runtime_up: bool = True) -> InstanceStatus:
    """gpucm's status for a pod's desiredStatus (or v2 status).

    A RUNNING pod without a runtime is still pulling its image: provisioning. A string
    not in STATUS_TABLE is reported as error, since gpucm cannot tell what it can do with
    the pod; the raw string is kept beside it for the user.
    """
    if raw is None:
        return "provisioning"
    status = STATUS_TABLE.get(raw.strip().upper(), "error")
    if status == "running" and not runtime_up:
        return "provisioning"
    return status


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_CHANGE_RE = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) (?P<day>\d{1,2}) (?P<year>\d{4}) "
    r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2}) GMT(?P<tz>[+-]\d{4})"
)


def status_change_time(value: Any) -> datetime | None:
    """The time in a lastStatusChange string ("Rented by User: Tue Oct 21 2025 14:02:11
    GMT+0000 (...)"); parsed by hand because %b depends on the locale."""
    match = _CHANGE_RE.search(value) if isinstance(value, str) else None
    if match is None or match["mon"] not in _MONTHS:
        return None
    tz = match["tz"]
    offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5])) * (-1 if tz[0] == "-" else 1)
    try:
        local = datetime(
            int(match["year"]),
            _MONTHS[match["mon"]],
            int(match["day"]),
            int(match["h"]),
            int(match["m"]),
            int(match["s"]),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    return local - offset


def ssh_endpoint(runtime: Any) -> tuple[str | None, int | None, str | None]:
    """(ssh host, ssh port, public ip) from a pod's runtime ports."""
    ports = runtime.get("ports") if isinstance(runtime, dict) else None
    if not isinstance(ports, list):
        return None, None, None
    public_ip: str | None = None
    for port in ports:
        if not isinstance(port, dict) or port.get("isIpPublic") is not True:
            continue
        ip = text(port.get("ip"))
        public_ip = public_ip or ip
        if whole(port.get("privatePort")) == 22 and ip:
            return ip, whole(port.get("publicPort")), ip
    return None, None, public_ip


def instance_id(pod_id: str) -> str:
    return f"{RUNPOD}:{pod_id}"


def parse_deployed(
    body: Any,
    offer: Offer,
    *,
    name: str,
    image: str,
    now: datetime,
    request_id: str | None = None,
) -> Instance:
    """The pod podFindAndDeployOnDemand just created; it is always still provisioning."""
    pod = mutation_result(body, "podFindAndDeployOnDemand")
    pod_id = text(pod.get("id")) if isinstance(pod, dict) else None
    if pod_id is None:
        raise BadResponse(
            RUNPOD,
            "accepted the launch but returned no pod id; check the RunPod console for a "
            f"pod named {name!r} before launching again",
        )
    machine = pod.get("machine")
    machine = machine if isinstance(machine, dict) else {}
    return Instance(
        id=instance_id(pod_id),
        provider=RUNPOD,
        provider_id=pod_id,
        name=text(pod.get("name")) or name,
        status="provisioning",
        raw_status=text(pod.get("desiredStatus")),
        gpu_name=text(machine.get("gpuDisplayName")) or offer.gpu_name,
        gpu_count=whole(pod.get("gpuCount")) or offer.gpu_count,
        price_per_hour=num(pod.get("costPerHr")) or offer.price_per_hour,
        image=text(pod.get("imageName")) or image,
        ssh_user=SSH_USER,
        offer_id=offer.id,
        request_id=request_id,
        created_at=now,
        provider_data={
            "machine_id": text(pod.get("machineId")),
            "pod_host_id": text(machine.get("podHostId")),
            "gpu_type_id": offer.provider_data.get("gpu_type_id"),
            "cloud_type": offer.provider_data.get("cloud_type"),
        },
    )


def parse_pod(row: Any, now: datetime) -> Instance:
    if not isinstance(row, dict):
        raise TypeError(f"pod is {_kind(row)}")
    pod_id = text(row.get("id"))
    if pod_id is None:
        raise ValueError("pod without an id")
    runtime = row.get("runtime")
    raw = text(row.get("status")) or text(row.get("desiredStatus"))
    status = normalise_status(raw, runtime_up=isinstance(runtime, dict))
    host, port, public_ip = ssh_endpoint(runtime)
    machine = row.get("machine")
    machine = machine if isinstance(machine, dict) else {}
    disks = [num(row.get("containerDiskInGb")), num(row.get("volumeInGb"))]
    known_disks = [d for d in disks if d is not None]
    uptime = num(runtime.get("uptimeInSeconds")) if isinstance(runtime, dict) else None
    started_at: datetime | None = None
    if uptime is not None:
        try:
            started_at = now - timedelta(seconds=uptime)
        except OverflowError:  # an uptime beyond any date: unknown
            started_at = None
    return Instance(
        id=instance_id(pod_id),
        provider=RUNPOD,
        provider_id=pod_id,
        name=text(row.get("name")) or "",
        status=status,
        raw_status=raw,
        gpu_name=text(machine.get("gpuDisplayName")),
        gpu_count=max(whole(row.get("gpuCount")) or 0, 0),
        cpu_count=num(row.get("vcpuCount")),
        ram_gb=num(row.get("memoryInGb")),
        storage_gb=sum(known_disks) if known_disks else None,
        price_per_hour=num(row.get("costPerHr")),
        region=None,
        image=text(row.get("imageName")),
        ssh_host=host,
        ssh_port=port,
        ssh_user=SSH_USER if host else None,
        public_ip=public_ip,
        started_at=started_at,
        updated_at=status_change_time(row.get("lastStatusChange")),
        provider_data={
            "machine_id": text(row.get("machineId")),
            "pod_type": text(row.get("podType")),
            "ports": text(row.get("ports")),
        },
    )


def parse_pods(body: Any, now: datetime) -> list[Instance]:
    myself = graphql_data(body, "the pods query").get("myself")
    if not isinstance(myself, dict):
        raise BadResponse(
            RUNPOD, f"answered the pods query without `data.myself` (got {_kind(myself)})"
        )
    if "pods" not in myself:
        raise BadResponse(RUNPOD, "answered the pods query without `data.myself.pods`")
    rows = myself["pods"]
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise BadResponse(
            RUNPOD, f"answered the pods query with `data.myself.pods` as {_kind(rows)}"
        )
    instances: list[Instance] = []
    for index, row in enumerate(rows):
        try:
            instances.append(parse_pod(row, now))
        except (KeyError, TypeError, ValueError) as exc:
            log.debug("runpod: skipping pods[%d]: %s", index, exc)
    return instances
