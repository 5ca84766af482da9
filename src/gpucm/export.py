"""Exporting offers as CSV or JSON: one definition for the CLI and the TUI."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import IO, Any, Literal

from gpucm.domain.models import Offer

ExportFormat = Literal["csv", "json"]

OFFER_CSV_FIELDS = (
    "id", "provider", "provider_id", "gpu_model", "gpu_name", "gpu_count", "gpu_memory_gb",
    "price_per_hour", "price_per_gpu_hour", "spot_price_per_hour", "vcpus", "ram_gb",
    "storage_gb", "region", "region_group", "country", "reliability", "performance", "value",
    "download_mbps", "upload_mbps", "cuda_version", "verified", "available", "stale",
    "fetched_at",
)  # fmt: skip


def offer_record(offer: Offer) -> dict[str, Any]:
    """A flat dict of an offer for CSV (network speeds as their own columns)."""
    data = offer.model_dump(mode="json")
    net = data.pop("network_info")
    data["download_mbps"] = net["download_mbps"]
    data["upload_mbps"] = net["upload_mbps"]
    return data


def write_offers(offers: Iterable[Offer], out: IO[str], fmt: ExportFormat) -> int:
    """Write offers to a text stream; returns how many were written."""
    n = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=OFFER_CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for offer in offers:
            writer.writerow(offer_record(offer))
            n += 1
        return n
    items = [offer.model_dump(mode="json") for offer in offers]
    json.dump(items, out, indent=2, default=str)
    out.write("\n")
    return len(items)
