"""Offer <-> SQLite row conversion, kept in one place."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import from_epoch
from gpucm.domain.models import GpuModel, NetworkInfo, Offer, value_per_point
from gpucm.store.schema import OFFER_COLUMNS

COLUMN_INDEX: dict[str, int] = {name: i for i, name in enumerate(OFFER_COLUMNS)}


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def offer_to_row(offer: Offer, *, snapshot: int, fetched_at: float, is_new: int) -> tuple[Any, ...]:
    """The row for an INSERT; first_seen_at and previous price are settled in SQL."""
    net = offer.network_info
    return (
        offer.id,
        offer.provider,
        offer.provider_id,
        offer.gpu_model or offer.gpu_name,
        offer.gpu_name,
        offer.gpu_family or offer.gpu_model or offer.gpu_name,
        offer.gpu_category,
        offer.gpu_count,
        offer.gpu_memory_gb,
        offer.price_per_hour,
        offer.price_per_hour / offer.gpu_count,
        offer.spot_price_per_hour,
        offer.storage_price_per_gb_month,
        offer.vcpus,
        offer.ram_gb,
        offer.storage_gb,
        offer.region,
        offer.region_group,
        offer.country,
        offer.reliability,
        offer.performance,
        value_per_point(offer.price_per_hour, offer.performance, offer.gpu_count),
        net.download_mbps,
        net.upload_mbps,
        offer.cuda_version,
        _bool(offer.verified),
        int(offer.available),
        fetched_at,
        fetched_at,
        None,
        is_new,
        snapshot,
        json.dumps(offer.provider_data, separators=(",", ":"), default=str)
        if offer.provider_data
        else "{}",
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
