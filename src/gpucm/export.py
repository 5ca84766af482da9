"""Exporting offers as CSV or JSON: one definition for the CLI and the TUI.

Provider text is data, never code: a CSV cell that a spreadsheet would read as a
formula (a GPU named `=HYPERLINK(...)`, a region `@cmd`) is written with a `'` in front,
as OWASP advises for CSV injection, so it shows as the text it is. Every CSV gpucm
writes goes through `write_csv`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
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


# what starts a formula in Excel, LibreOffice or Google Sheets (tab and CR too: some
# strip them and read on)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: text that would start a formula gets a leading `'`.
    Numbers stay numbers (-0.5 is a price, not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv(records: Iterable[Mapping[str, Any]], fields: Sequence[str], out: IO[str]) -> int:
    """Records as CSV with a header, every cell through `csv_cell`; how many rows."""
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    n = 0
    for record in records:
        writer.writerow({k: csv_cell(v) for k, v in record.items()})
        n += 1
    return n


def write_offers(offers: Iterable[Offer], out: IO[str], fmt: ExportFormat) -> int:
    """Write offers to a text stream; returns how many were written."""
    if fmt == "csv":
        return write_csv((offer_record(o) for o in offers), OFFER_CSV_FIELDS, out)
    items = [offer.model_dump(mode="json") for offer in offers]
    json.dump(items, out, indent=2, default=str)
    out.write("\n")
    return len(items)
