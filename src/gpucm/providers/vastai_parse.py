"""Pure translation of Vast.ai JSON bodies into domain objects (API_NOTES.md section 1).

No IO here, so tests feed the recorded fixtures straight in. A malformed row is skipped
(logged at DEBUG with the reason); a body of the wrong shape raises BadResponse.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from gpucm.domain.clock import from_epoch
from gpucm.domain.models import Instance, InstanceStatus, NetworkInfo, Offer, offer_id
from gpucm.domain.pricing import INCLUDED_STORAGE_KEY
from gpucm.domain.provider_names import VAST_AI
from gpucm.providers.errors import BadResponse

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


def instance_status(row: Mapping[str, Any]) -> InstanceStatus:
    """The status of one instance row, reading the intent where the state is ambiguous.

    A container the user stopped reports `exited` (or no status at all) with
    `intended_status: "stopped"`: that is a stopped instance, not a failure.
    """
    raw = _text(row.get("actual_status"))
    status = normalise_status(raw)
    intended = (_text(row.get("intended_status")) or "").lower()
    if intended == "stopped" and (raw is None or raw.lower() == "exited"):
        return "stopped"
    return status


# -- field helpers ---------------------------------------------------------------------


def _num(value: Any) -> float | None:
    """A finite number, or None for null, booleans, junk, NaN and infinities."""
    if value is None or isinstance(value, bool):
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


def _int(value: Any) -> int | None:
    number = _num(value)
    if number is None or number != int(number):
        return None
    return int(number)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text or None


def _nonneg(value: Any) -> float | None:
    number = _num(value)
    return number if number is not None and number >= 0 else None


def _round(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


def _row_id(row: Mapping[str, Any], *keys: str) -> int:
    for key in keys:
        number = _int(row.get(key))
        if number is not None and number > 0:
            return number
    raise RowError(f"no usable {keys[0]!r}")


def offer_price(row: Mapping[str, Any]) -> float | None:
    """$/h for the whole offer including the allocated storage, or None if unpriced.

    `dph_total` is the documented total; `search.totalHour` carries the same number on
    newer rows, and `dph_base + storage_total_cost` rebuilds it on rows that have
    neither.
    """
    price = _nonneg(row.get("dph_total"))
    if price is not None:
        return price
    search = row.get("search")
    if isinstance(search, Mapping):
        price = _nonneg(search.get("totalHour"))
        if price is not None:
            return price
    base = _nonneg(row.get("dph_base"))
    if base is None:
        return None
    return base + (_nonneg(row.get("storage_total_cost")) or 0.0)


def rented_ram_gb(row: Mapping[str, Any]) -> float | None:
    """The share of the host's RAM that comes with this offer, in GB.

    `cpu_ram` is the whole host's RAM in MB; an offer gets the same share of it as of
    the CPU cores (`cpu_cores_effective / cpu_cores`), or `gpu_frac` when the host's
    core count is missing.
    """
    host_mb = _nonneg(row.get("cpu_ram"))
    if host_mb is None:
        return None
    cores = _nonneg(row.get("cpu_cores"))
    effective = _nonneg(row.get("cpu_cores_effective"))
    if cores and effective is not None:
        share = min(effective / cores, 1.0)
    else:
        frac = _nonneg(row.get("gpu_frac"))
        share = min(frac, 1.0) if frac is not None else 1.0
    return _round(host_mb * share / 1024)


def _reliability(row: Mapping[str, Any]) -> float | None:
    for key in ("reliability2", "reliability"):
        value = _num(row.get(key))
        if value is not None:
            return value if 0 <= value <= 1 else None
    return None


def _verified(row: Mapping[str, Any]) -> bool | None:
    flag = row.get("verified")
    if isinstance(flag, bool):
        return flag
    state = _text(row.get("verification"))
    if state is None:
        return None
    return state.lower() == "verified"


def country_of_geolocation(geo: str | None) -> str | None:
    """The text after the last comma ("Texas, US" -> "US"); None without a comma, so
    the domain layer can read a bare country name ("Norway") itself."""
    if not geo or "," not in geo:
        return None
    return _text(geo.rsplit(",", 1)[1])


# -- offers ----------------------------------------------------------------------------


def offer_rows(body: Any) -> list[Any]:
    """The `offers` array of a bundles answer, or BadResponse naming what is wrong."""
    if not isinstance(body, Mapping):
        raise BadResponse(
            VAST_AI, f"the offer search answered with a JSON {_kind(body)}, not an object"
        )
    if "offers" not in body:
        raise BadResponse(VAST_AI, "the offer search answer has no 'offers' list")
    rows = body["offers"]
    if not isinstance(rows, list):
        raise BadResponse(
            VAST_AI, f"the offer search answer's 'offers' is a {_kind(rows)}, not a list"
        )
    return rows


def parse_offer(row: Any, fetched_at: datetime, allocated_storage_gb: float) -> Offer:
    """One bundles row as an Offer; RowError if it cannot be one."""
    if not isinstance(row, Mapping):
        raise RowError(f"row is a {_kind(row)}, not an object")
    ask_id = _row_id(row, "id", "ask_contract_id")
    gpu_name = _text(row.get("gpu_name"))
    if gpu_name is None:
        raise RowError(f"offer {ask_id} has no gpu_name")
    gpu_count = _int(row.get("num_gpus"))
    if gpu_count is None or not 1 <= gpu_count <= MAX_GPUS_PER_OFFER:
        raise RowError(f"offer {ask_id} has no usable num_gpus")
    price = offer_price(row)
    if price is None:
        raise RowError(f"offer {ask_id} has no price")
    gpu_ram_mb = _nonneg(row.get("gpu_ram"))
    region = _text(row.get("geolocation")) or ""
    rentable = row.get("rentable")
    rented = row.get("rented")
    provider_id = str(ask_id)
    data: dict[str, Any] = {
        "ask_id": ask_id,
        # dph_total already includes this much storage: a launch with more disk costs
        # a little more (storage_price_per_gb_month / 730 per extra GB-hour).
        INCLUDED_STORAGE_KEY: allocated_storage_gb,
    }
    for key in ("machine_id", "host_id", "hosting_type", "direct_port_count"):
        value = _int(row.get(key))
        if value is not None:
            data[key] = value
    for key in ("dph_base", "storage_total_cost", "dlperf", "gpu_frac", "compute_cap"):
        number = _num(row.get(key))
        if number is not None:
            data[key] = number
    try:
        return Offer(
            id=offer_id(VAST_AI, provider_id),
            provider=VAST_AI,
            provider_id=provider_id,
            gpu_name=gpu_name,
            gpu_count=gpu_count,
            gpu_memory_gb=_round(gpu_ram_mb / 1024) if gpu_ram_mb else None,
            price_per_hour=price,
            spot_price_per_hour=_nonneg(row.get("min_bid")),
            storage_price_per_gb_month=_nonneg(row.get("storage_cost")),
            vcpus=_nonneg(row.get("cpu_cores_effective")),
            ram_gb=rented_ram_gb(row),
            storage_gb=_nonneg(row.get("disk_space")),
            region=region,
            country=country_of_geolocation(region),
            reliability=_reliability(row),
            network_info=NetworkInfo(
                download_mbps=_nonneg(row.get("inet_down")),
                upload_mbps=_nonneg(row.get("inet_up")),
            ),
            cuda_version=_nonneg(row.get("cuda_max_good")),
            verified=_verified(row),
            # Absent flags mean the search's own rentable/rented filters held.
            available=rentable is not False and rented is not True,
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


# -- instances -------------------------------------------------------------------------


def instances_page(body: Any) -> tuple[list[Any], str | None]:
    """Rows and `next_token` of one `/api/v1/instances/` page."""
    if not isinstance(body, Mapping):
        raise BadResponse(
            VAST_AI, f"the instance list answered with a JSON {_kind(body)}, not an object"
        )
    rows = body.get("instances")
    if rows is None and "instances" not in body:
        raise BadResponse(VAST_AI, "the instance list answer has no 'instances' list")
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise BadResponse(
            VAST_AI, f"the instance list answer's 'instances' is a {_kind(rows)}, not a list"
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
            port = _int(binding.get("HostPort"))
            if port is not None and 0 < port < 65536:
                return port
    return None


def parse_instance(row: Any) -> Instance:
    """One instance row as an Instance; RowError if it cannot be one.

    Deliberately not copied: `extra_env` and `onstart` (they hold the user's tokens),
    `jupyter_token` and `instance_api_key` (credentials).
    """
    if not isinstance(row, Mapping):
        raise RowError(f"row is a {_kind(row)}, not an object")
    instance_id = _row_id(row, "id")
    provider_id = str(instance_id)
    raw_status = _text(row.get("actual_status"))
    ssh_port = _int(row.get("ssh_port"))
    public_ip = _text(row.get("public_ipaddr"))
    data: dict[str, Any] = {}
    for key in ("intended_status", "cur_state", "next_state", "status_msg"):
        text = _text(row.get(key))
        if text is not None:
            data[key] = text[:300]
    for key in ("machine_id", "host_id"):
        value = _int(row.get(key))
        if value is not None:
            data[key] = value
    direct_port = _direct_ssh_port(row)
    if public_ip and direct_port:
        data["direct_ssh_host"] = public_ip
        data["direct_ssh_port"] = direct_port
    gpu_count = _int(row.get("num_gpus"))
    try:
        return Instance(
            id=f"{VAST_AI}:{provider_id}",
            provider=VAST_AI,
            provider_id=provider_id,
            name=_text(row.get("label")) or "",
            status=instance_status(row),
            raw_status=raw_status,
            gpu_name=_text(row.get("gpu_name")),
            gpu_count=gpu_count if gpu_count is not None and gpu_count >= 0 else 0,
            cpu_count=_nonneg(row.get("cpu_cores_effective")),
            ram_gb=rented_ram_gb(row),
            storage_gb=_nonneg(row.get("disk_space")),
            price_per_hour=_nonneg(row.get("dph_total")),
            region=_text(row.get("geolocation")),
            image=_text(row.get("image_uuid")),
            ssh_host=_text(row.get("ssh_host")),
            ssh_port=ssh_port if ssh_port is not None and 0 < ssh_port < 65536 else None,
            ssh_user="root",
            public_ip=public_ip,
            created_at=_epoch(row.get("start_date")),
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
        raise BadResponse(VAST_AI, f"the create answer is a JSON {_kind(body)}, not an object")
    contract = _int(body.get("new_contract"))
    if contract is None or contract <= 0:
        raise BadResponse(
            VAST_AI,
            "the create answer has no instance id ('new_contract'); check the Vast.ai "
            "console before launching again, an instance may have been created",
        )
    return contract


def _epoch(value: Any) -> datetime | None:
    seconds = _num(value)
    if seconds is None or seconds <= 0:
        return None
    try:
        return from_epoch(seconds)
    except (OverflowError, OSError, ValueError):
        return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
