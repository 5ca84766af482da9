"""Pure translation of Vast.ai JSON bodies into domain objects (API_NOTES.md section 1).

No IO here, so tests feed the recorded fixtures straight in. A malformed row is skipped
(logged at DEBUG with the reason); a body of the wrong shape raises BadResponse.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from gpucm.domain.clock import from_epoch
from gpucm.domain.models import (
    Availability,
    Instance,
    InstanceStatus,
    NetworkInfo,
    Offer,
    StatusReason,
    offer_id,
)
from gpucm.domain.pricing import INCLUDED_STORAGE_KEY
from gpucm.domain.provider_names import VAST_AI
from gpucm.providers.errors import BadResponse
from gpucm.providers.values import kind, nonneg, number, text, whole

log = logging.getLogger(__name__)

# Every `actual_status` API_NOTES lists. None (no status yet) means the instance is
# still being scheduled. `exited`, `unknown` and `offline` never become `running`
# again on their own, so a launch waiting on them must give up: they are errors.
STATUS_TABLE: dict[str | None, InstanceStatus] = {
    None: "provisioning",
    "created": "provisioning",
    "loading": "provisioning",
    "rebooting": "provisioning",
    "restarting": "provisioning",
    "running": "running",
    "stopped": "stopped",
    "frozen": "stopped",
    "exited": "error",
    "unknown": "error",
    "offline": "error",
    "destroyed": "terminated",
    "terminated": "terminated",
}


# No marketplace host rents more GPUs than this in one offer. A count beyond it is a
# broken row, and a big enough one cannot even be divided into a price per GPU.
MAX_GPUS_PER_OFFER = 4096


class RowError(ValueError):
    """One row cannot be used; the reason goes to the DEBUG log."""


def normalise_status(raw: str | None) -> InstanceStatus:
    """Vast's `actual_status` as one of gpucm's five statuses.

    A string Vast adds later is an error rather than a guess, so a launch that waits
    for `running` stops instead of billing forever.
    """
    if raw is None:
        return "provisioning"
    key = raw.strip().lower()
    if not key:
        return "provisioning"
    return STATUS_TABLE.get(key, "error")


def status_reason(row: Mapping[str, Any]) -> StatusReason | None:
    """`outbid` for an interruptible instance a higher bid stopped: Vast stops it
    (`actual_status` stopped) while the renter still wants it running."""
    if row.get("is_bid") is not True:
        return None
    said = (text(row.get("status_msg")) or "").lower()
    if "outbid" in said or "out bid" in said:
        return "outbid"
    actual = (text(row.get("actual_status")) or "").lower()
    intended = (text(row.get("intended_status")) or "").lower()
    if actual in ("stopped", "exited", "inactive") and intended == "running":
        return "outbid"
    return None


def instance_status(row: Mapping[str, Any]) -> InstanceStatus:
    """The status of one instance row, reading the intent where the state is ambiguous.

    A container the user stopped reports `exited` (or no status at all) with
    `intended_status: "stopped"`: that is a stopped instance, not a failure.
    """
    raw = text(row.get("actual_status"))
    status = normalise_status(raw)
    intended = (text(row.get("intended_status")) or "").lower()
    if intended == "stopped" and (raw is None or raw.lower() == "exited"):
        return "stopped"
    if status_reason(row) == "outbid":
        return "stopped"  # stopped by the market, not broken: a higher bid resumes it
    return status


# -- field helpers ---------------------------------------------------------------------


def _round(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def _row_id(row: Mapping[str, Any], *keys: str) -> int:
    for key in keys:
        number = whole(row.get(key))
        if number is not None and number > 0:
            return number
    raise RowError(f"no usable {keys[0]!r}")


def offer_price(row: Mapping[str, Any]) -> float | None:
    """$/h for the whole offer including the allocated storage, or None if unpriced.

    `dph_total` is the documented total; `search.totalHour` carries the same number on
    newer rows, and `dph_base + storage_total_cost` rebuilds it on rows that have
    neither.
    """
    price = nonneg(row.get("dph_total"))
    if price is not None:
        return price
    search = row.get("search")
    if isinstance(search, Mapping):
        price = nonneg(search.get("totalHour"))
        if price is not None:
            return price
    base = nonneg(row.get("dph_base"))
    if base is None:
        return None
    return base + (nonneg(row.get("storage_total_cost")) or 0.0)


def offer_availability(row: Mapping[str, Any]) -> Availability:
    """Each Vast offer is one host's free GPUs: there to rent (`high`: it is all there
    is, and nobody else holds it) unless the row says it is rented or not rentable.
    Absent flags mean the search's own rentable/rented filters held."""
    if row.get("rentable") is False or row.get("rented") is True:
        return "none"
    return "high"


def spot_price(row: Mapping[str, Any]) -> float | None:
    """$/h for the offer rented interruptible at the lowest bid, storage included as in
    `offer_price`. A `type: bid` search prices `dph_total` that way (bid_rows); an
    on-demand row has only `min_bid` (compute) to add the storage cost to."""
    if row.get("is_bid") is True:
        return offer_price(row)
    bid = nonneg(row.get("min_bid"))
    if not bid:
        return None
    return bid + (nonneg(row.get("storage_total_cost")) or 0.0)


def min_bid_per_gpu(row: Mapping[str, Any], gpu_count: int) -> float | None:
    """The lowest bid Vast takes now, per GPU-hour. `min_bid` is for the whole offer,
    as the create's `price` is ("per machine")."""
    bid = nonneg(row.get("min_bid"))
    return round(bid / gpu_count, 6) if bid else None


def rented_ram_gb(row: Mapping[str, Any]) -> float | None:
    """The share of the host's RAM that comes with this offer, in GB.

    `cpu_ram` is the whole host's RAM in MB; an offer gets the same share of it as of
    the CPU cores (`cpu_cores_effective / cpu_cores`), or `gpu_frac` when the host's
    core count is missing.
    """
    host_mb = nonneg(row.get("cpu_ram"))
    if host_mb is None:
        return None
    cores = nonneg(row.get("cpu_cores"))
    effective = nonneg(row.get("cpu_cores_effective"))
    if cores and effective is not None:
        share = min(effective / cores, 1.0)
    else:
        frac = nonneg(row.get("gpu_frac"))
        share = min(frac, 1.0) if frac is not None else 1.0
    return _round(host_mb * share / 1024)


def _reliability(row: Mapping[str, Any]) -> float | None:
    for key in ("reliability2", "reliability"):
        value = number(row.get(key))
        if value is not None:
            return value if 0 <= value <= 1 else None
    return None


def _verified(row: Mapping[str, Any]) -> bool | None:
    flag = row.get("verified")
    if isinstance(flag, bool):
        return flag
    state = text(row.get("verification"))
    if state is None:
        return None
    return state.lower() == "verified"


def country_of_geolocation(geo: str | None) -> str | None:
    """The text after the last comma ("Texas, US" -> "US"); None without a comma, so
    the domain layer can read a bare country name ("Norway") itself."""
    if not geo or "," not in geo:
        return None
    return text(geo.rsplit(",", 1)[1])


# -- offers ----------------------------------------------------------------------------


def offer_rows(body: Any) -> list[Any]:
    """The `offers` array of a bundles answer, or BadResponse naming what is wrong."""
    if not isinstance(body, Mapping):
        raise BadResponse(
            VAST_AI, f"the offer search answered with {kind(body)}, not a JSON object"
        )
    if "offers" not in body:
        raise BadResponse(VAST_AI, "the offer search answer has no 'offers' list")
    rows = body["offers"]
    if not isinstance(rows, list):
        raise BadResponse(
            VAST_AI, f"the offer search answer's 'offers' is {kind(rows)}, not a list"
        )
    return rows


def parse_offer(row: Any, fetched_at: datetime, allocated_storage_gb: float) -> Offer:
    """One bundles row as an Offer; RowError if it cannot be one."""
    if not isinstance(row, Mapping):
        raise RowError(f"row is {kind(row)}, not an object")
    ask_id = _row_id(row, "id", "ask_contract_id")
    gpu_name = text(row.get("gpu_name"))
    if gpu_name is None:
        raise RowError(f"offer {ask_id} has no gpu_name")
    gpu_count = whole(row.get("num_gpus"))
    if gpu_count is None or not 1 <= gpu_count <= MAX_GPUS_PER_OFFER:
        raise RowError(f"offer {ask_id} has no usable num_gpus")
    price = offer_price(row)
    if price is None:
        raise RowError(f"offer {ask_id} has no price")
    gpu_ram_mb = nonneg(row.get("gpu_ram"))
    region = text(row.get("geolocation")) or ""
    provider_id = str(ask_id)
    data: dict[str, Any] = {
        "ask_id": ask_id,
        # dph_total already includes this much storage: a launch with more disk costs
        # a little more (storage_price_per_gb_month / 730 per extra GB-hour).
        INCLUDED_STORAGE_KEY: allocated_storage_gb,
    }
    for key in ("machine_id", "host_id", "hosting_type", "direct_port_count"):
        value = whole(row.get(key))
        if value is not None:
            data[key] = value
    for key in ("dph_base", "storage_total_cost", "dlperf", "gpu_frac", "compute_cap"):
        amount = number(row.get(key))
        if amount is not None:
            data[key] = amount
    try:
        return Offer(
            id=offer_id(VAST_AI, provider_id),
            provider=VAST_AI,
            provider_id=provider_id,
            gpu_name=gpu_name,
            gpu_count=gpu_count,
            gpu_memory_gb=_round(gpu_ram_mb / 1024) if gpu_ram_mb else None,
            price_per_hour=price,
            spot_price_per_hour=spot_price(row),
            min_bid_per_gpu_hour=min_bid_per_gpu(row, gpu_count),
            storage_price_per_gb_month=nonneg(row.get("storage_cost")),
            vcpus=nonneg(row.get("cpu_cores_effective")),
            ram_gb=rented_ram_gb(row),
            storage_gb=nonneg(row.get("disk_space")),
            region=region,
            country=country_of_geolocation(region),
            reliability=_reliability(row),
            network_info=NetworkInfo(
                download_mbps=nonneg(row.get("inet_down")),
                upload_mbps=nonneg(row.get("inet_up")),
            ),
            cuda_version=nonneg(row.get("cuda_max_good")),
            verified=_verified(row),
            availability=offer_availability(row),
            fetched_at=fetched_at,
            provider_data=data,
        )
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e.get("loc"))
        raise RowError(f"offer {ask_id} has invalid {fields or 'values'}") from None


def parse_offers(
    body: Any, fetched_at: datetime, allocated_storage_gb: float = 10.0
) -> list[Offer]:
    """Every usable offer of a bundles answer; unusable rows are skipped.

    An answer with rows of which not one can be read is a BadResponse, not an empty
    market: the API has changed under us, and the last good offers must stay.
    """
    offers: list[Offer] = []
    seen: set[str] = set()
    rows = offer_rows(body)
    first_problem: str | None = None
    for index, row in enumerate(rows):
        try:
            offer = parse_offer(row, fetched_at, allocated_storage_gb)
        except RowError as exc:
            log.debug("vast_ai: skipped offer row %d: %s", index, exc)
            first_problem = first_problem or str(exc)
            continue
        if offer.provider_id in seen:
            log.debug("vast_ai: skipped offer row %d: duplicate id %s", index, offer.provider_id)
            continue
        seen.add(offer.provider_id)
        offers.append(offer)
    if not offers and first_problem is not None:
        raise BadResponse(
            VAST_AI,
            f"none of the {len(rows)} offers in the search answer could be read "
            f"(first: {first_problem}); the API may have changed",
        )
    return offers


def merge_bids(offers: list[Offer], bid_body: Any, fetched_at: datetime) -> list[Offer]:
    """The on-demand offers with the interruptible prices of a `type: bid` search.

    A bid search lists the same asks (same ids) priced for bidding: `dph_total` is the
    lowest bid plus storage, `min_bid` that bid. Those prices replace the ones read off
    the on-demand rows. Asks only the bid search lists are left out: gpucm's offers are
    what can be rented on demand now, each with its interruptible price beside it.
    """
    by_id = {o.provider_id: o for o in offers}
    merged: dict[str, dict[str, float | None]] = {}
    for row in offer_rows(bid_body):
        if not isinstance(row, Mapping):
            continue
        ask = whole(row.get("id"))
        offer = by_id.get(str(ask)) if ask is not None else None
        if offer is None:
            continue
        bid_row = {**row, "is_bid": True}
        spot = spot_price(bid_row)
        if spot is None:
            continue
        merged[offer.provider_id] = {
            "spot_price_per_hour": spot,
            "min_bid_per_gpu_hour": min_bid_per_gpu(row, offer.gpu_count)
            or offer.min_bid_per_gpu_hour,
        }
    log.debug("vast_ai: interruptible prices for %d of %d offers", len(merged), len(offers))
    # model_copy: the values are numbers read and checked above, like the offer's own
    return [
        o.model_copy(update=merged[o.provider_id]) if o.provider_id in merged else o for o in offers
    ]


# -- instances -------------------------------------------------------------------------


def instances_page(body: Any) -> tuple[list[Any], str | None]:
    """Rows and `next_token` of one `/api/v1/instances/` page."""
    if not isinstance(body, Mapping):
        raise BadResponse(
            VAST_AI, f"the instance list answered with {kind(body)}, not a JSON object"
        )
    rows = body.get("instances")
    if rows is None and "instances" not in body:
        raise BadResponse(VAST_AI, "the instance list answer has no 'instances' list")
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise BadResponse(
            VAST_AI, f"the instance list answer's 'instances' is {kind(rows)}, not a list"
        )
    token = body.get("next_token")
    if token is not None and not isinstance(token, str | int):
        raise BadResponse(VAST_AI, "the instance list answer's 'next_token' is not a string")
    next_token = str(token).strip() if token is not None else None
    return rows, next_token or None


def _direct_ssh_port(row: Mapping[str, Any]) -> int | None:
    ports = row.get("ports")
    if not isinstance(ports, Mapping):
        return None
    bindings = ports.get("22/tcp")
    if not isinstance(bindings, list):
        return None
    for binding in bindings:
        if isinstance(binding, Mapping):
            port = whole(binding.get("HostPort"))
            if port is not None and 0 < port < 65536:
                return port
    return None


def parse_instance(row: Any) -> Instance:
    """One instance row as an Instance; RowError if it cannot be one.

    Deliberately not copied: `extra_env` and `onstart` (they hold the user's tokens),
    `jupyter_token` and `instance_api_key` (credentials).
    """
    if not isinstance(row, Mapping):
        raise RowError(f"row is {kind(row)}, not an object")
    instance_id = _row_id(row, "id")
    provider_id = str(instance_id)
    raw_status = text(row.get("actual_status"))
    ssh_port = whole(row.get("ssh_port"))
    public_ip = text(row.get("public_ipaddr"))
    data: dict[str, Any] = {}
    for key in ("intended_status", "cur_state", "next_state", "status_msg"):
        said = text(row.get(key), 300)
        if said is not None:
            data[key] = said
    for key in ("machine_id", "host_id"):
        value = whole(row.get(key))
        if value is not None:
            data[key] = value
    direct_port = _direct_ssh_port(row)
    if public_ip and direct_port:
        data["direct_ssh_host"] = public_ip
        data["direct_ssh_port"] = direct_port
    gpu_count = whole(row.get("num_gpus"))
    try:
        return Instance(
            id=f"{VAST_AI}:{provider_id}",
            provider=VAST_AI,
            provider_id=provider_id,
            name=text(row.get("label")) or "",
            status=instance_status(row),
            raw_status=raw_status,
            gpu_name=text(row.get("gpu_name")),
            gpu_count=gpu_count if gpu_count is not None and gpu_count >= 0 else 0,
            cpu_count=nonneg(row.get("cpu_cores_effective")),
            ram_gb=rented_ram_gb(row),
            storage_gb=nonneg(row.get("disk_space")),
            # the instance's own billed rates: `dph_total` running (storage included),
            # `storage_total_cost` ($/h) for the disk, which bills while it is stopped
            price_per_hour=nonneg(row.get("dph_total")),
            rate_reported=nonneg(row.get("dph_total")) is not None,
            stopped_per_hour=nonneg(row.get("storage_total_cost")),
            stopped_reported=nonneg(row.get("storage_total_cost")) is not None,
            region=text(row.get("geolocation")),
            image=text(row.get("image_uuid")),
            ssh_host=text(row.get("ssh_host")),
            ssh_port=ssh_port if ssh_port is not None and 0 < ssh_port < 65536 else None,
            ssh_user="root",
            public_ip=public_ip,
            created_at=_epoch(row.get("start_date")),
            interruptible=row.get("is_bid") is True,
            status_reason=status_reason(row),
            provider_data=data,
        )
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e.get("loc"))
        raise RowError(f"instance {instance_id} has invalid {fields or 'values'}") from None


def parse_instances(rows: list[Any]) -> list[Instance]:
    instances: list[Instance] = []
    for index, row in enumerate(rows):
        try:
            instances.append(parse_instance(row))
        except RowError as exc:
            log.debug("vast_ai: skipped instance row %d: %s", index, exc)
    return instances


def parse_new_contract(body: Any) -> int:
    """The instance id from a create answer (`new_contract`)."""
    if not isinstance(body, Mapping):
        raise BadResponse(VAST_AI, f"the create answer is {kind(body)}, not a JSON object")
    contract = whole(body.get("new_contract"))
    if contract is None or contract <= 0:
        raise BadResponse(
            VAST_AI,
            "the create answer has no instance id ('new_contract'); check the Vast.ai "
            "console before launching again, an instance may have been created",
        )
    return contract


def _epoch(value: Any) -> datetime | None:
    seconds = number(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return from_epoch(seconds)
    except (OverflowError, OSError, ValueError):
        return None
