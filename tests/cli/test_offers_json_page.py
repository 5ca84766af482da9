"""`gpucm offers --limit 5 --json`, the command `make bench` times against a bare
sqlite3 script: however its start-up is trimmed, it prints the page the bare script
reads, every key of an offer in the original API's order, and exactly what the store's
own search returns (byte for byte)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3

import pytest

from gpucm.cli.main import main
from gpucm.db_location import store_location
from gpucm.domain.models import SearchQuery
from gpucm.store.sql import DEFAULT_ORDER, DEFAULT_WHERE
from gpucm.store.store import Store

OFFER_KEYS = [
    "id", "provider", "provider_id", "gpu_model", "gpu_name", "gpu_family", "gpu_category",
    "gpu_info", "gpu_count", "gpu_memory_gb", "price_per_hour", "spot_price_per_hour",
    "min_bid_per_gpu_hour", "storage_price_per_gb_month", "vcpus", "ram_gb", "storage_gb",
    "region", "region_group", "country", "reliability", "performance", "network_info",
    "cuda_version", "verified", "available", "availability", "fetched_at", "first_seen_at",
    "previous_price_per_hour", "stale", "provider_data", "host_id", "price_per_gpu_hour",
    "value",
]  # fmt: skip
GPU_INFO_KEYS = [
    "name", "family", "vendor", "category", "architecture", "memory_gb",
    "compute_capability", "performance_score", "memory_bandwidth_gbps", "fp32_tflops",
    "fp16_tflops", "tdp_watts", "form_factor", "aliases",
]  # fmt: skip


def test_offers_limit_5_json_is_the_stores_first_page(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["refresh"]) == 0
    capsys.readouterr()
    assert main(["offers", "--limit", "5", "--json"]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out)

    assert len(printed) == 5
    for offer in printed:
        assert list(offer) == OFFER_KEYS
        assert list(offer["gpu_info"]) == GPU_INFO_KEYS
        assert list(offer["network_info"]) == ["download_mbps", "upload_mbps"]

    path = store_location(None, demo=True, env=os.environ)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:  # as the bench's script
        bare = conn.execute(
            f"SELECT id, price_per_hour, gpu_count FROM offers WHERE {DEFAULT_WHERE}"
            f" ORDER BY {DEFAULT_ORDER} LIMIT 5"
        ).fetchall()
    assert [(o["id"], o["price_per_hour"], o["gpu_count"]) for o in printed] == bare

    async def store_page() -> str:
        store = await Store.open(path)
        try:
            page = await store.search(SearchQuery(limit=5))
        finally:
            await store.close()
        return json.dumps([o.model_dump(mode="json") for o in page.offers], indent=2) + "\n"

    assert out == asyncio.run(store_page())
