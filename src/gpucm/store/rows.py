"""Offer <-> SQLite row conversion, kept in one place."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import from_epoch
from gpucm.domain.models import GpuModel, NetworkInfo, Offer
from gpucm.store.schema import DIRECT_COLUMNS, OFFER_COLUMNS

COLUMN_INDEX: dict[str, int] = {name: i for i, name in enumerate(OFFER_COLUMNS)}


# Offer fields live in the instance __dict__; one C-level itemgetter over it is the
# cheapest way to gather them (measured ~25% under attrgetter at 100k offers).
_direct = itemgetter(*DIRECT_COLUMNS)
# provider_data as JSON text (`encode_provider_data`): orjson writes provider data (parsed
# JSON) ~4x faster than the json module, ~60 ms of a 100,000-offer refresh (bench
# ingest_100k_offers); the json module, as it always did, writes what orjson would
# write otherwise, so that every text reads back the same.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
# everything orjson would write otherwise than the json module with default=str
# (datetimes and dataclasses as their own text, subclasses of str, int, dict and list)
# raises instead, for the json module to write
_ORJSON_STRICT = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_provider_data_of = itemgetter("provider_data")
_PRICE = DIRECT_COLUMNS.index("price_per_hour")
_COUNT = DIRECT_COLUMNS.index("gpu_count")
_PERF = DIRECT_COLUMNS.index("performance")


def offer_to_row(
    offer: Offer,
    *,
    fetched_at: float,
    first_seen_at: float | None = None,
    previous_price: float | None = None,
    is_new: int = 0,
) -> tuple[Any, ...]:
    """The row for an INSERT, in OFFER_COLUMNS order.

    Hot path: runs for every offer of every refresh (100,000 in the benchmark)."""
    d = offer.__dict__
    direct: tuple[Any, ...] = _direct(d)
    net = d["network_info"].__dict__
    verified = d["verified"]
    data = d["provider_data"]
    price = direct[_PRICE]
    count = direct[_COUNT]
    perf = direct[_PERF]
    # concatenation, not (*direct, ...): one allocation instead of a list and a copy
    return direct + (  # noqa: RUF005
        price / count,
        price / (perf * count) if perf else None,
        net["download_mbps"],
        net["upload_mbps"],
        None if verified is None else int(verified),
        fetched_at,
        fetched_at if first_seen_at is None else first_seen_at,
        previous_price,
        is_new,
        encode_provider_data(data),
    )


def encode_provider_data(data: dict[str, Any]) -> str:
    """`data` as compact JSON text that `json.loads` reads back equal to it.

    orjson writes plain JSON values; it raises at what it would write differently from
    the json module (a key not a str, an int beyond 64 bits, a lone surrogate, a
    datetime, a subclass), and it writes a NaN or an infinity as null, which would read
    back as None: those are written by the json module (NaN, Infinity), as before. Any
    "null" in orjson's text sends the dict there, a None as well (rare in provider
    data). orjson writes an Enum member as its value, the json module with default=str
    as its name (Color.RED): provider data is parsed JSON, which holds none."""
    try:
        text = orjson.dumps(data, None, _ORJSON_STRICT).decode()
    except orjson.JSONEncodeError:
        return _ENCODER.encode(data)
    return _ENCODER.encode(data) if "null" in text else text


def encode_each_provider_data(offers: Sequence[dict[str, Any]]) -> list[str]:
    """`encode_provider_data` of the provider data of each offer (an Offer's __dict__):
    orjson over all of them without a Python call per offer, then the json module only
    where orjson's text is not the one `encode_provider_data` would give."""
    datas = map(_provider_data_of, offers)
    try:
        texts = list(
            map(bytes.decode, map(orjson.dumps, datas, repeat(None), repeat(_ORJSON_STRICT)))
        )
    except orjson.JSONEncodeError:
        return list(map(encode_provider_data, map(_provider_data_of, offers)))
    # one scan of all the text, not one per dict; a dict's text starts with { and ends
    # with }, so no "null" is made where two meet
    if "null" not in "".join(texts):
        return texts
    return [
        _ENCODER.encode(data) if "null" in text else text
        for text, data in zip(texts, map(_provider_data_of, offers), strict=True)
    ]


# The SQLite backend's INSERT binds fewer values than OFFER_COLUMNS, in this order, and
# computes the rest itself (store/snapshot.py, `SnapshotBuilder.values`): every bound
# value costs sqlite3 ~65 ns, and a None or a bool ~450 ns (it looks for an adapter
# first). At 100,000 offers (bench ingest_100k_offers): the derived columns computed
# in SQL build ~90 ms less in Python and bind ~40 ms less; the two flags bound as ints
# (a missing `verified` as a NaN, which binds as NULL) spare two adapter lookups per
# offer; and what is the same for every offer of a refresh (the provider, the time,
# whether anything can be new), written into the statement, binds ~45 ms less.
#
# The offer's own fields, read from its __dict__ in one C call:
OWN_FIELDS: tuple[str, ...] = tuple(c for c in DIRECT_COLUMNS if c not in ("provider", "available"))
# and what `SnapshotBuilder.values` appends to them, in this order: the network's two,
# the flags and the provider's data, and the tail (an offer seen before has its
# previous price and first sighting, a new one NaN, NaN: bound as NULL, NULL); then
# the refresh's time where it is not written into the statement (`insert_sql`)
APPENDED: tuple[str, ...] = (
    "download_mbps",
    "upload_mbps",
    "available",
    "verified",
    "provider_data",
    "previous_price_per_hour",
    "first_seen_at",
)
INSERT_INPUTS: tuple[str, ...] = (*OWN_FIELDS, *APPENDED)
# price_per_gpu_hour and value as `offer_to_row` computes them (true division, as
# Python's, whatever the price's type); the same values to the last bit
_DERIVED = {
    "price_per_gpu_hour": "CAST(?{price} AS REAL) / ?{count}",
    "value": "CASE WHEN ?{perf} THEN CAST(?{price} AS REAL) / (?{perf} * ?{count}) END",
}


def sql_text(value: str) -> str:
    """`value` as an SQL string literal, which stores the same text a bound value does."""
    if not value.isprintable():
        raise ValueError(f"not a text this store writes into SQL: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def insert_sql(*, provider: str, fetched_at: str | None, first_snapshot: bool) -> str:
    """An INSERT of one offer's INSERT_INPUTS into every column of the offers table, for
    a refresh of `provider`. `fetched_at`: the refresh's time as an SQL literal that
    reads back as exactly the same float, or None to bind it after INSERT_INPUTS. On a
    provider's first snapshot nothing is "new": everything is."""
    at = {name: f"?{i}" for i, name in enumerate(INSERT_INPUTS, 1)}
    slots = {k: at[v][1:] for k, v in (("price", "price_per_hour"), ("count", "gpu_count"))}
    slots["perf"] = at["performance"][1:]
    when = fetched_at if fetched_at is not None else f"?{len(INSERT_INPUTS) + 1}"
    seen_since = at["first_seen_at"]
    at |= {
        "provider": sql_text(provider),
        "fetched_at": when,
        "first_seen_at": f"coalesce({seen_since}, {when})",
        "is_new": "0" if first_snapshot else f"({seen_since} IS NULL)",
    }
    values = [_DERIVED[c].format(**slots) if c in _DERIVED else at[c] for c in OFFER_COLUMNS]
    return f"INSERT INTO offers ({', '.join(OFFER_COLUMNS)}) VALUES ({', '.join(values)})"


def _epoch(value: Any) -> datetime | None:
    return from_epoch(float(value)) if value is not None else None


def row_to_offer(row: Sequence[Any], catalog: Catalog, *, stale: bool = False) -> Offer:
    """Rebuild an Offer; gpu_info comes from the current catalog, so spec edits in the
    user's catalog file show at once, before the next refresh."""
    c = COLUMN_INDEX
    gpu_model = row[c["gpu_model"]]
    info: GpuModel | None = catalog.get(gpu_model)
    if info is None:
        info = GpuModel.unknown(gpu_model, row[c["gpu_memory_gb"]])
    verified = row[c["verified"]]
    fetched = _epoch(row[c["fetched_at"]])
    assert fetched is not None
    return Offer(
        id=row[c["id"]],
        provider=row[c["provider"]],
        provider_id=row[c["provider_id"]],
        gpu_model=gpu_model,
        gpu_name=row[c["gpu_name"]],
        gpu_family=row[c["gpu_family"]],
        gpu_category=row[c["gpu_category"]],
        gpu_info=info,
        gpu_count=row[c["gpu_count"]],
        gpu_memory_gb=row[c["gpu_memory_gb"]],
        price_per_hour=row[c["price_per_hour"]],
        spot_price_per_hour=row[c["spot_price_per_hour"]],
        min_bid_per_gpu_hour=row[c["min_bid_per_gpu_hour"]],
        storage_price_per_gb_month=row[c["storage_price_per_gb_month"]],
        vcpus=row[c["vcpus"]],
        ram_gb=row[c["ram_gb"]],
        storage_gb=row[c["storage_gb"]],
        region=row[c["region"]],
        region_group=row[c["region_group"]],
        country=row[c["country"]],
        reliability=row[c["reliability"]],
        performance=row[c["performance"]],
        network_info=NetworkInfo(
            download_mbps=row[c["download_mbps"]], upload_mbps=row[c["upload_mbps"]]
        ),
        cuda_version=row[c["cuda_version"]],
        verified=None if verified is None else bool(verified),
        available=bool(row[c["available"]]),
        availability=row[c["availability"]],
        fetched_at=fetched,
        first_seen_at=_epoch(row[c["first_seen_at"]]),
        previous_price_per_hour=row[c["previous_price_per_hour"]],
        stale=stale,
        provider_data=json.loads(row[c["provider_data"]] or "{}"),
        host_id=row[c["host_id"]],
    )
