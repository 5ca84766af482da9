"""Offer <-> SQLite row conversion, kept in one place."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import from_epoch
from gpucm.domain.models import GpuModel, NetworkInfo, Offer
from gpucm.store.schema import DIRECT_COLUMNS, OFFER_COLUMNS

COLUMN_INDEX: dict[str, int] = {name: i for i, name in enumerate(OFFER_COLUMNS)}


_direct = attrgetter(*DIRECT_COLUMNS)
# One encoder for every row: json.dumps with options builds a new encoder per call.
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def offer_to_row(offer: Offer, *, snapshot: int, fetched_at: float, is_new: int) -> tuple[Any, ...]:
    """The row for an INSERT; first_seen_at and previous price are settled in SQL.

    Hot path: runs for every offer of every refresh (100,000 in the benchmark)."""
    net = offer.network_info
    verified = offer.verified
    data = offer.provider_data
    price = offer.price_per_hour
    count = offer.gpu_count
    perf = offer.performance
    return (
        *_direct(offer),
        price / count,
        price / (perf * count) if perf else None,
        net.download_mbps,
        net.upload_mbps,
        None if verified is None else int(verified),
        fetched_at,
        fetched_at,
        None,
        is_new,
        snapshot,
        _encode(data) if data else "{}",
    )


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
        fetched_at=fetched,
        first_seen_at=_epoch(row[c["first_seen_at"]]),
        previous_price_per_hour=row[c["previous_price_per_hour"]],
        stale=stale,
        provider_data=json.loads(row[c["provider_data"]] or "{}"),
    )
