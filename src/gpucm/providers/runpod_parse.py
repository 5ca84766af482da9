"""Pure translation of RunPod's REST API v2 bodies into domain objects (API_NOTES.md
section 2; runpod/docs `api-reference-v2/openapi.json`).

No IO here: the adapter in runpod.py sends the requests and hands the parsed JSON to
these functions, so tests feed the recorded fixtures straight in. What is still read
from the retired-in-2027 GraphQL API (spot prices, interruptible pods) is at the end.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from gpucm.domain.cuda import version_key
from gpucm.domain.models import Availability, Instance, InstanceStatus, Offer, offer_id
from gpucm.domain.pricing import HOURS_PER_MONTH
from gpucm.domain.provider_names import RUNPOD
from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    ProviderUnavailable,
)
from gpucm.providers.values import kind, nonneg, obj, slug, text, whole

log = logging.getLogger(__name__)

# RunPod bills container and volume disk separately from the GPU price, at about
# $0.10/GB-month while the pod runs. No API exposes the rate: a documented constant.
STORAGE_PRICE_PER_GB_MONTH: Final = 0.10
# A stopped pod keeps its volume (the container disk is wiped) and bills it at twice
# the running rate, $0.20/GB-month (RunPod's pricing page); its `cost` then says 0.0.
STOPPED_VOLUME_PRICE_PER_GB_MONTH: Final = 0.20

SSH_USER: Final = "root"
GPU_COUNTS: Final = (1, 2, 4, 8)
SECURE: Final = "SECURE"
COMMUNITY: Final = "COMMUNITY"
CLOUD_TYPES: Final = (SECURE, COMMUNITY)
# An env entry gpucm sets on the interruptible pods it launches: v2 lists pods without
# saying which are interruptible, and the env is the one place gpucm can mark them.
INTERRUPTIBLE_ENV: Final = "GPUCM_INTERRUPTIBLE"

LEVELS: Final[dict[str, Availability]] = {
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "NONE": "none",
}

# v2 PodStatus; see normalise_status.
STATUS_TABLE: Final[dict[str, InstanceStatus]] = {
    "PROVISIONING": "provisioning",
    "STARTING": "provisioning",
    "RUNNING": "running",
    "EXITED": "stopped",
    "ERROR": "error",
    "TERMINATED": "terminated",
}

# A create's 400 carries capacity only in its human-readable detail ("capacity
# exhaustion currently carries no machine-readable code of its own", createPod).
_CAPACITY_PHRASES: Final = (
    "capacity",
    "no longer any instances available",
    "not enough free gpu",
    "no instances available",
    "no available",
    "could not be placed",
    "unavailable",
    "out of stock",
)


def normalise_status(raw: str | None) -> InstanceStatus:
    """gpucm's status for a pod's v2 `status`. A string not in STATUS_TABLE is an
    error, since gpucm cannot tell what it can do with the pod; the raw string is kept
    beside it for the user."""
    if raw is None:
        return "provisioning"
    return STATUS_TABLE.get(raw.strip().upper(), "error")


def level(value: Any) -> Availability | None:
    """A v2 AvailabilityLevel (HIGH, MEDIUM, LOW, NONE) as gpucm's, else None."""
    said = text(value)
    return LEVELS.get(said.upper()) if said else None


# -- errors ------------------------------------------------------------------------------


def problem(body: Any) -> tuple[str, list[str]] | None:
    """(detail, errors) of an RFC 9457 problem body, or None if `body` is not one."""
    if not isinstance(body, Mapping):
        return None
    detail = text(body.get("detail"), 300) or text(body.get("title"), 300)
    if detail is None:
        return None
    errors = body.get("errors")
    items = [t for t in (text(e, 200) for e in errors[:5]) if t] if isinstance(errors, list) else []
    return detail, items


def problem_error(
    status: int, body: Any, *, key_env: str, clean: Callable[[str], str] = str
) -> ProviderError | None:
    """The error an RFC 9457 problem body stands for, in words a person can act on;
    None for a body that is not one, or a status the shared layer owns (429 and 5xx:
    retries and Retry-After)."""
    found = problem(body)
    if found is None or status == 429 or status >= 500 or status < 400:
        return None
    detail, errors = found
    said = clean("; ".join([detail, *errors]))
    p = RUNPOD
    if status == 401:
        return AuthError(p, f"the API key was rejected ({said}); check {key_env}", status=status)
    if status == 402:
        return InvalidRequest(
            p,
            f"the RunPod balance is too low to launch ({said}); add funds at "
            "https://www.runpod.io/console/user/billing",
            status=status,
        )
    if status == 403:
        return AuthError(
            p,
            f"the API key may not do this ({said}); check its permissions in the RunPod "
            f"console, or {key_env}",
            status=status,
        )
    if status == 404:
        return NotFound(p, f"not found ({said})", status=status)
    if status == 409:
        return InvalidRequest(p, f"not possible in the pod's current state ({said})", status=status)
    if status == 400 and any(phrase in said.lower() for phrase in _CAPACITY_PHRASES):
        return CapacityError(
            p,
            f"no capacity for this configuration ({said}); pick another offer",
            status=status,
        )
    return InvalidRequest(p, f"the request was refused (HTTP {status}): {said}", status=status)


# -- the GPU catalogue: offers ----------------------------------------------------------


def catalog_rows(body: Any, what: str = "GET /v2/catalog/gpus") -> list[Any]:
    """The `gpus` list of a catalogue answer, or BadResponse naming what is wrong."""
    if not isinstance(body, Mapping):
        raise BadResponse(RUNPOD, f"answered {what} with {kind(body)}, not a JSON object")
    rows = body.get("gpus")
    if not isinstance(rows, list):
        raise BadResponse(RUNPOD, f"answered {what} without a `gpus` list (got {kind(rows)})")
    return rows


def type_id(row: Any) -> str | None:
    """A GPU type's id (the launch key), None for a row without one or RunPod's
    `unknown` placeholder type."""
    if not isinstance(row, Mapping):
        return None
    found = text(row.get("id"))
    return None if found is None or found.lower() == "unknown" else found


def display_name(row: Mapping[str, Any], gpu_type: str) -> str:
    return text(row.get("name")) or gpu_type


def offer_stems(rows: Iterable[Any]) -> dict[str, str]:
    """Readable offer-id stems per GPU type id: the display name's slug, or the type
    id's slug for every type whose display name collides with another's."""
    named: dict[str, str] = {}
    for row in rows:
        gpu_type = type_id(row)
        if gpu_type is not None:
            named[gpu_type] = slug(display_name(row, gpu_type)) or slug(gpu_type)
    taken = Counter(named.values())
    return {tid: (s if taken[s] == 1 else slug(tid)) for tid, s in named.items()}


def max_count(row: Mapping[str, Any], cloud: str) -> int:
    """The most GPUs a pod of this type may have in `cloud` (0: not offered there)."""
    if row.get(cloud.lower()) is not True:
        return 0
    price = nonneg(obj(row.get("price")).get(cloud.lower()))
    if not price:
        return 0
    return max(whole(obj(row.get("maxCount")).get(cloud.lower())) or 1, 0)


def cuda_versions(row: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(versions offered, versions with free capacity now), oldest first. Absent for a
    type whose machines report none (AMD): both empty."""
    offered: dict[str, bool] = {}
    entries = row.get("cudaVersions")
    for entry in entries if isinstance(entries, list) else []:
        version = text(obj(entry).get("version"))
        if version and version_key(version):
            offered[version] = offered.get(version, False) or obj(entry).get("available") is True
    ordered = sorted(offered, key=version_key)
    return ordered, [v for v in ordered if offered[v]]


def _cuda_number(versions: list[str]) -> float | None:
    """The highest version as the offers table's number (12.8); None past minor 9, which
    a decimal cannot order (12.10 would read as 12.1)."""
    if not versions:
        return None
    major_minor = version_key(versions[-1])[:2]
    if len(major_minor) < 2 or major_minor[1] > 9:
        return None
    return major_minor[0] + major_minor[1] / 10


@dataclass(frozen=True)
class SpotPrice:
    """A type's interruptible price per GPU-hour in one cloud; the lowest bid RunPod
    takes (GraphQL `secureSpotPrice` / `communitySpotPrice`)."""

    per_gpu: float


SpotPrices = Mapping[tuple[str, str], SpotPrice]  # (type id, cloud) -> price


def type_offers(
    row: Any,
    cloud: str,
    count: int,
    fetched_at: datetime,
    *,
    stem: str,
    spot: SpotPrices | None = None,
) -> list[Offer]:
    """The offers of one GPU type in one cloud at one GPU count, from an answer asked
    for exactly that cloud and count: one per data centre that has the type in that
    configuration (with that data centre's stock), or one without a region when none
    does (sold out everywhere: listed, so it stays visible and watchable). A cloud
    that does not offer the type, or not that many of it, gives none."""
    gpu_type = type_id(row)
    if gpu_type is None or not isinstance(row, Mapping):
        raise ValueError("no usable `id`")
    if count > max_count(row, cloud):
        return []
    per_gpu = nonneg(obj(row.get("price")).get(cloud.lower()))
    if per_gpu is None:
        return []
    offered, in_stock = cuda_versions(row)
    spot_price = (spot or {}).get((gpu_type, cloud))
    common: dict[str, Any] = {
        "provider": RUNPOD,
        "gpu_name": display_name(row, gpu_type),
        "gpu_count": count,
        "gpu_memory_gb": nonneg(row.get("memory")),
        "price_per_hour": round(per_gpu * count, 6),
        "spot_price_per_hour": round(spot_price.per_gpu * count, 6) if spot_price else None,
        "min_bid_per_gpu_hour": spot_price.per_gpu if spot_price else None,
        "storage_price_per_gb_month": STORAGE_PRICE_PER_GB_MONTH,
        # the v2 catalogue says nothing of a pod's vCPUs, RAM or disk
        "vcpus": None,
        "ram_gb": None,
        "storage_gb": None,
        "reliability": None,
        "cuda_version": _cuda_number(in_stock or offered),
        "verified": cloud == SECURE,
        "fetched_at": fetched_at,
    }
    data: dict[str, Any] = {"gpu_type_id": gpu_type, "cloud_type": cloud, "gpu_count": count}
    if offered:
        data["cuda_versions"] = offered
        data["cuda_in_stock"] = in_stock
    base = f"{stem}-{cloud.lower()}-{count}"
    centres = row.get("dataCenters")
    offers: list[Offer] = []
    seen: set[str] = set()
    for centre in centres if isinstance(centres, list) else []:
        centre = obj(centre)
        dc = text(centre.get("id"))
        if dc is None or dc in seen:
            continue
        seen.add(dc)
        pid = f"{base}@{dc}"
        offers.append(
            Offer(
                id=offer_id(RUNPOD, pid),
                provider_id=pid,
                region=dc,
                availability=level(centre.get("availability")) or "unknown",
                provider_data={
                    **data,
                    "data_center_id": dc,
                    "data_center_name": text(centre.get("name")),
                },
                **common,
            )
        )
    if offers:
        return offers
    # No data centre has it in this configuration: the type's own level says (NONE).
    return [
        Offer(
            id=offer_id(RUNPOD, base),
            provider_id=base,
            region="",
            availability=level(row.get("availability")) or "none",
            provider_data=data,
            **common,
        )
    ]


def counts_to_ask(rows: Iterable[Any], cloud: str) -> list[int]:
    """The GPU counts beyond 1 worth a catalogue request in `cloud`: those some type
    there allows (per `maxCount`)."""
    most = max((max_count(obj(r), cloud) for r in rows), default=0)
    return [n for n in GPU_COUNTS if 1 < n <= most]


def parse_catalog(
    answers: Iterable[tuple[str, int, Any]],
    fetched_at: datetime,
    spot: SpotPrices | None = None,
) -> list[Offer]:
    """Offers from catalogue answers, each asked for one (cloud, GPU count).

    Types a cloud does not offer give no offers there, and that is no error. But answers
    whose every row is malformed are a BadResponse: the API has changed, and the last
    good offers must stay rather than be replaced by nothing.
    """
    answered = [(cloud, count, catalog_rows(body)) for cloud, count, body in answers]
    stems = offer_stems(row for _, _, rows in answered for row in rows)
    offers: list[Offer] = []
    seen: set[str] = set()
    rows_seen = 0
    first_problem: str | None = None
    for cloud, count, rows in answered:
        for index, row in enumerate(rows):
            rows_seen += 1
            gpu_type = type_id(row)
            if gpu_type is None:
                placeholder = isinstance(row, Mapping) and text(row.get("id")) is not None
                if not placeholder:
                    first_problem = first_problem or f"gpus[{index}] is {kind(row)} without `id`"
                continue
            try:
                built = type_offers(row, cloud, count, fetched_at, stem=stems[gpu_type], spot=spot)
            except (KeyError, TypeError, ValueError) as exc:
                log.debug("runpod: skipping GPU type %r: %s", gpu_type, exc)
                first_problem = first_problem or f"GPU type {gpu_type!r} is malformed"
                continue
            for offer in built:
                if offer.provider_id not in seen:
                    seen.add(offer.provider_id)
                    offers.append(offer)
    if not offers and first_problem is not None:
        raise BadResponse(
            RUNPOD,
            f"none of the {rows_seen} GPU types in the catalogue could be read "
            f"(first: {first_problem}); the API may have changed",
        )
    return offers


def offer_target(offer: Offer) -> tuple[str, str, int, str | None]:
    """(GPU type id, cloud, GPU count, data centre or None) of a RunPod offer, or
    InvalidRequest when the offer lacks them (an offer from an older gpucm)."""
    data = offer.provider_data
    gpu_type = data.get("gpu_type_id")
    cloud = data.get("cloud_type")
    count = data.get("gpu_count", offer.gpu_count)
    dc = data.get("data_center_id")
    if (
        cloud not in CLOUD_TYPES
        or not isinstance(gpu_type, str)
        or not gpu_type
        or not isinstance(count, int)
        or isinstance(count, bool)
        or count < 1
    ):
        raise InvalidRequest(
            RUNPOD,
            f"offer {offer.id} lacks RunPod's GPU type, cloud or count; "
            "refresh the offers and pick it again",
        )
    return gpu_type, str(cloud), count, dc if isinstance(dc, str) and dc else None


def requote(body: Any, offer: Offer, fetched_at: datetime, spot: SpotPrices | None) -> Offer | None:
    """`offer` rebuilt from a one-type catalogue answer (`GET /v2/catalog/gpus/{id}`)
    asked for its cloud and count; None if it is no longer offered or in stock."""
    gpu_type, cloud, count, _ = offer_target(offer)
    if not isinstance(body, Mapping):
        raise BadResponse(RUNPOD, f"answered the GPU type with {kind(body)}, not a JSON object")
    if type_id(body) != gpu_type:
        return None
    stem = offer.provider_id.split("@", 1)[0].removesuffix(f"-{cloud.lower()}-{count}")
    try:
        built = type_offers(body, cloud, count, fetched_at, stem=stem, spot=spot)
    except (KeyError, TypeError, ValueError) as exc:
        log.debug("runpod: cannot re-quote %r: %s", gpu_type, exc)
        return None
    for candidate in built:
        if candidate.provider_id == offer.provider_id:
            return candidate if candidate.available else None
    return None


# -- pods ----------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    stamp = text(value)
    if stamp is None:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SshEndpoint:
    host: str
    port: int
    user: str

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user}


def ssh_endpoint(value: Any) -> SshEndpoint | None:
    entry = obj(value)
    host = text(entry.get("host"))
    port = whole(entry.get("port"))
    user = text(entry.get("username"))
    if host is None or port is None or not 0 < port < 65536 or user is None:
        return None
    return SshEndpoint(host, port, user)


def instance_id(pod_id: str) -> str:
    return f"{RUNPOD}:{pod_id}"


def parse_pod(row: Any, now: datetime) -> Instance:
    """One v2 Pod. SSH goes `direct` when the pod publishes 22/tcp (scp, rsync and port
    forwarding work), else through RunPod's proxy (an interactive shell only). The
    pod's `env` is never copied: it holds the user's secrets; gpucm reads only its own
    interruptible marker from it."""
    if not isinstance(row, Mapping):
        raise TypeError(f"pod is {kind(row)}")
    pod_id = text(row.get("id"))
    if pod_id is None:
        raise ValueError("pod without an id")
    raw = text(row.get("status"))
    status = normalise_status(raw)
    ssh = obj(row.get("ssh"))
    direct = ssh_endpoint(ssh.get("direct"))
    proxy = ssh_endpoint(ssh.get("proxy"))
    chosen = direct or proxy
    gpu = obj(row.get("gpu"))
    runtime = obj(row.get("runtime"))
    disks = [
        nonneg(row.get("disk")),
        nonneg(obj(obj(row.get("mounts")).get("persistent")).get("size")),
    ]
    known_disks = [d for d in disks if d is not None]
    volume_gb = disks[1]
    cost = nonneg(row.get("cost"))
    started = _when(row.get("startedAt"))
    uptime = nonneg(runtime.get("uptime"))
    if started is None and uptime is not None and status == "running":
        try:
            started = now - timedelta(seconds=uptime)
        except OverflowError:  # an uptime beyond any date: unknown
            started = None
    env = row.get("env")
    interruptible = isinstance(env, Mapping) and env.get(INTERRUPTIBLE_ENV) == "1"
    actions = row.get("actions")
    data: dict[str, Any] = {
        "gpu_type_id": text(gpu.get("id")),
        "cloud_type": text(row.get("cloud")),
        "data_center_id": text(row.get("dataCenterId")),
        "cuda_version": text(row.get("cudaVersion")),
        "actions": [a for a in (text(x) for x in actions) if a]
        if isinstance(actions, list)
        else None,
        "ssh_direct": direct.as_dict() if direct else None,
        "ssh_proxy": proxy.as_dict() if proxy else None,
        "locked": row.get("locked") if isinstance(row.get("locked"), bool) else None,
    }
    return Instance(
        id=instance_id(pod_id),
        provider=RUNPOD,
        provider_id=pod_id,
        name=text(row.get("name")) or "",
        status=status,
        raw_status=raw,
        gpu_name=text(gpu.get("id")),
        gpu_count=max(whole(gpu.get("count")) or 0, 0),
        storage_gb=sum(known_disks) if known_disks else None,
        # v2's `cost`: "current cost in USD per hour", the rate RunPod bills the pod
        price_per_hour=cost,
        rate_reported=cost is not None,
        stopped_per_hour=volume_gb * STOPPED_VOLUME_PRICE_PER_GB_MONTH / HOURS_PER_MONTH
        if volume_gb
        else None,
        region=text(row.get("dataCenterId")),
        image=text(row.get("image")),
        ssh_host=chosen.host if chosen else None,
        ssh_port=chosen.port if chosen else None,
        ssh_user=chosen.user if chosen else None,
        public_ip=direct.host if direct else None,
        created_at=_when(row.get("createdAt")),
        started_at=started if status in ("running", "provisioning") else None,
        interruptible=interruptible,
        provider_data={k: v for k, v in data.items() if v is not None},
    )


def parse_pods(body: Any, now: datetime) -> list[Instance]:
    """`GET /v2/pods` -> the account's pods; unreadable ones are skipped."""
    if not isinstance(body, Mapping):
        raise BadResponse(RUNPOD, f"answered GET /v2/pods with {kind(body)}, not a JSON object")
    rows = body.get("pods")
    if rows is None and "pods" in body:
        return []
    if not isinstance(rows, list):
        raise BadResponse(RUNPOD, f"answered GET /v2/pods without a `pods` list (got {kind(rows)})")
    instances: list[Instance] = []
    for index, row in enumerate(rows):
        try:
            instances.append(parse_pod(row, now))
        except (KeyError, TypeError, ValueError) as exc:
            log.debug("runpod: skipping pods[%d]: %s", index, exc)
    return instances


def parse_created(
    body: Any, offer: Offer, *, name: str, now: datetime, request_id: str | None
) -> Instance:
    """The pod `POST /v2/pods` created (201): provisioning at first."""
    try:
        pod = parse_pod(body, now)
    except (TypeError, ValueError):
        raise BadResponse(
            RUNPOD,
            "accepted the launch but returned no pod id; check the RunPod console for a "
            f"pod named {name!r} before launching again",
        ) from None
    return pod.model_copy(
        update={"offer_id": offer.id, "request_id": request_id, "name": pod.name or name}
    )


def parse_logs(stream: str, limit: int = 2000) -> str:
    """The lines of a `GET /v2/pods/{id}/logs` Server-Sent Events stream, as text: each
    event's `data` is `{"ts", "source", "line"}`; other lines are protocol."""
    lines: list[str] = []
    for raw in stream.splitlines():
        if not raw.startswith("data:"):
            continue
        payload = raw[5:].strip()
        try:
            event = json.loads(payload)
        except json.JSONDecodeError:
            said = text(payload)
            if said:
                lines.append(said)
            continue
        entry = obj(event)
        line = text(entry.get("line"))
        if line is None:
            continue
        source = text(entry.get("source"))
        stamp = text(entry.get("ts"))
        prefix = " ".join(p for p in (stamp, f"[{source}]" if source else None) if p)
        lines.append(f"{prefix} {line}" if prefix else line)
    return "\n".join(lines[-limit:]) + ("\n" if lines else "")


# -- GraphQL, for what v2 lacks: spot prices and interruptible pods ---------------------


def graphql_data(body: Any, what: str) -> Mapping[str, Any]:
    """The `data` object of a GraphQL answer, or BadResponse naming what was wrong."""
    if not isinstance(body, Mapping):
        raise BadResponse(RUNPOD, f"answered {what} with {kind(body)} instead of a JSON object")
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise BadResponse(RUNPOD, f"answered {what} without a `data` object (got {kind(data)})")
    return data


def graphql_error(
    body: Any, status: int, hint: str = "", *, clean: Callable[[str], str] = str
) -> ProviderError | None:
    """The error a GraphQL `errors` array stands for (RunPod answers most failures with
    HTTP 200 and `errors`), or None if the body has none."""
    if not isinstance(body, Mapping) or not body.get("errors"):
        return None
    errors = body["errors"]
    messages: list[str] = []
    codes: set[str] = set()
    for item in errors if isinstance(errors, list) else [errors]:
        entry = obj(item)
        message = text(entry.get("message"), 200) if entry else text(str(item), 200)
        code = text(obj(entry.get("extensions")).get("code"))
        if code:
            codes.add(code.upper())
        if message and message not in messages:
            messages.append(message)
    said = clean("; ".join(messages) or "an unspecified error")[:300]
    lowered = said.lower()
    http = status if status >= 400 else None
    if any(p in lowered for p in _CAPACITY_PHRASES):
        return CapacityError(
            RUNPOD, f"no capacity for this configuration ({said}); pick another offer", status=http
        )
    if codes & {"UNAUTHENTICATED", "UNAUTHORIZED", "FORBIDDEN"} or any(
        p in lowered for p in ("unauthorized", "not authorized", "invalid api key")
    ):
        return AuthError(RUNPOD, f"the API key was rejected ({said}){hint}", status=http)
    if "something went wrong" in lowered:
        return ProviderUnavailable(
            RUNPOD, f"internal error at the provider ({said}); try again later", status=http
        )
    return InvalidRequest(RUNPOD, f"the request was refused: {said}", status=http)


def parse_spot_prices(body: Any) -> dict[tuple[str, str], SpotPrice]:
    """(type id, cloud) -> interruptible price per GPU-hour, from the GraphQL
    `gpuTypes { id secureSpotPrice communitySpotPrice }` answer. Null or 0: no spot."""
    rows = graphql_data(body, "the spot price query").get("gpuTypes")
    if not isinstance(rows, list):
        raise BadResponse(RUNPOD, "answered the spot price query without `data.gpuTypes`")
    prices: dict[tuple[str, str], SpotPrice] = {}
    for row in rows:
        gpu_type = type_id(row)
        if gpu_type is None:
            continue
        for cloud, key in ((SECURE, "secureSpotPrice"), (COMMUNITY, "communitySpotPrice")):
            price = nonneg(obj(row).get(key))
            if price:
                prices[(gpu_type, cloud)] = SpotPrice(price)
    return prices


def parse_rented(
    body: Any, offer: Offer, *, name: str, image: str, bid: float, now: datetime, request_id: str
) -> Instance:
    """The interruptible pod `podRentInterruptable` made; provisioning at first."""
    pod = graphql_data(body, "podRentInterruptable").get("podRentInterruptable")
    pod_id = text(obj(pod).get("id"))
    if pod_id is None:
        raise BadResponse(
            RUNPOD,
            "accepted the interruptible launch but returned no pod id; check the RunPod "
            f"console for a pod named {name!r} before launching again",
        )
    return Instance(
        id=instance_id(pod_id),
        provider=RUNPOD,
        provider_id=pod_id,
        name=name,
        status="provisioning",
        raw_status=text(obj(pod).get("desiredStatus")),
        gpu_name=offer.gpu_name,
        gpu_count=offer.gpu_count,
        price_per_hour=round(bid * offer.gpu_count, 6),
        region=offer.region or None,
        image=image,
        offer_id=offer.id,
        request_id=request_id,
        created_at=now,
        interruptible=True,
        provider_data={
            "gpu_type_id": offer.provider_data.get("gpu_type_id"),
            "cloud_type": offer.provider_data.get("cloud_type"),
            "bid_per_gpu": bid,
            "machine_id": text(obj(pod).get("machineId")),
        },
    )
