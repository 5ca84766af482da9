"""The benchmark harness's own pieces still fit the store they measure.

`make bench` is not part of `make test`, so a schema change could break a group's
baseline unseen: the PostgreSQL ingest baseline copied the first migration's DDL and
failed for every run after a later migration added a column. These run each ingest
pair (baseline and gpucm) on a few hundred offers, and the refresh rounds with no
latency: no timing is asserted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from bench import bench_refresh
from bench.bench_postgres import _bare_copy, _gpucm_ingest
from bench.bench_store import bare_ingest_seconds, gpucm_ingest_seconds
from bench.common import NOW, synthetic_offers

from gpucm.store.rows import offer_to_row
from tests.postgres import need_server

N = 300


def test_the_sqlite_ingest_pair_runs_on_the_current_schema(tmp_path: Path) -> None:
    offers = synthetic_offers(N, provider="vast_ai")
    rows = [offer_to_row(o, fetched_at=NOW.timestamp()) for o in offers]
    assert bare_ingest_seconds(rows, tmp_path / "bare.db") > 0
    assert asyncio.run(gpucm_ingest_seconds(offers, tmp_path / "ours.db")) > 0


async def test_the_postgres_ingest_pair_runs_on_the_current_schema() -> None:
    base = need_server()
    offers = synthetic_offers(N, provider="vast_ai")
    rows = [offer_to_row(o, fetched_at=NOW.timestamp()) for o in offers]
    assert await _bare_copy(base, rows) > 0
    assert await _gpucm_ingest(base, offers) > 0
    # both dropped their schemas: nothing of the bench is left in the server
    conn = await asyncpg.connect(base)
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'bench_%'"
        )
    finally:
        await conn.close()
    assert left == 0


async def test_the_refresh_rounds_run_against_the_adapters_of_today(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # its mock once answered RunPod on GraphQL only, after the adapter moved to REST v2
    monkeypatch.setattr(bench_refresh, "LATENCY", dict.fromkeys(bench_refresh.LATENCY, 0.0))
    monkeypatch.setattr(bench_refresh, "PAUSE_S", 0.0)
    four, alone = await bench_refresh.rounds(1)
    assert len(four) == 1
    assert sorted(alone) == sorted(bench_refresh.LATENCY)
    assert all(len(samples) == 1 for samples in alone.values())
