from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from gpucm.domain.clock import Clock, from_epoch
from gpucm.domain.models import Offer, ProviderHealth, SearchQuery
from gpucm.store import offers as offers_module
from gpucm.store.db import StoreError, connect, migrate, run_on_connection, schema_version
from gpucm.store.rows import offer_to_row
from gpucm.store.schema import LATEST_VERSION, MIGRATIONS, OFFER_COLUMNS, Migration
from gpucm.store.snapshot import SnapshotBuilder
from gpucm.store.store import Store
from tests.conftest import FIXED_NOW
from tests.offer_factory import make_offer


async def test_replace_is_per_provider_and_tracks_moves(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        first = await store.replace_offers(
            "vast_ai",
            [make_offer(provider_id="a", price_per_hour=1.0), make_offer(provider_id="b")],
        )
        await store.replace_offers("runpod", [make_offer("runpod", "x", price_per_hour=2.0)])
        # nothing is "new" on a provider's first snapshot
        assert (first.offers, first.added, first.removed) == (2, 0, 0)

        later = FIXED_NOW + timedelta(minutes=1)
        second = await store.replace_offers(
            "vast_ai",
            [
                make_offer(provider_id="a", price_per_hour=0.8, fetched_at=later),
                make_offer(provider_id="c", fetched_at=later),
            ],
            fetched_at=later,
        )
        assert (second.offers, second.added, second.removed, second.price_changes) == (2, 1, 1, 1)

        page = await store.search(SearchQuery(available=False))
        by_id = {o.id: o for o in page.offers}
        assert set(by_id) == {"vast_ai:a", "vast_ai:c", "runpod:x"}  # runpod untouched
        moved = by_id["vast_ai:a"]
        assert moved.previous_price_per_hour == 1.0
        assert moved.price_per_hour == 0.8
        assert moved.first_seen_at == FIXED_NOW  # kept across refreshes
        assert by_id["vast_ai:c"].first_seen_at == later
    finally:
        await store.close()


async def test_has_offers_says_whether_any_offer_is_stored(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        assert await store.has_offers() is False  # a new store: the CLI refreshes first
        await store.replace_offers("vast_ai", [make_offer(provider_id="a", available=False)])
        assert await store.has_offers() is True  # unavailable ones count: it was refreshed
        await store.replace_offers("vast_ai", [])
        assert await store.has_offers() is False
    finally:
        await store.close()


async def test_history_point_per_model_per_refresh(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        offers = [
            make_offer(provider_id="a", price_per_hour=2.0, gpu_count=2),
            make_offer(provider_id="b", price_per_hour=0.5),
            make_offer(provider_id="c", price_per_hour=0.1, available=False),
            make_offer(provider_id="d", gpu_name="H100 SXM", price_per_hour=3.0),
        ]
        await store.replace_offers("vast_ai", offers)
        await store.replace_offers("vast_ai", offers, fetched_at=FIXED_NOW + timedelta(hours=1))
        points = await store.history(["RTX 4090"])
        assert [p.ts for p in points] == [FIXED_NOW, FIXED_NOW + timedelta(hours=1)]
        p = points[0]
        # per GPU-hour, over available offers only
        assert (p.offers, p.available) == (3, 2)
        assert p.min_gpu_price == pytest.approx(0.5)
        assert p.max_gpu_price == pytest.approx(1.0)
        assert p.avg_gpu_price == pytest.approx(0.75)
        assert [q.gpu_model for q in await store.history(["H100"])] == ["H100", "H100"]
    finally:
        await store.close()


async def test_stale_marks_follow_provider_health(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        await store.replace_offers("vast_ai", [make_offer()])
        await store.save_health(ProviderHealth(provider="vast_ai", status="ok"))
        assert not (await store.search(SearchQuery())).offers[0].stale
        await store.save_health(
            ProviderHealth(provider="vast_ai", status="failing", last_error="boom")
        )
        assert (await store.search(SearchQuery())).offers[0].stale
        health = await store.health()
        assert health["vast_ai"].last_error == "boom"
    finally:
        await store.close()


async def test_rejects_offer_of_another_provider(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        await store.replace_offers("vast_ai", [make_offer(provider_id="old")])
        # found after other offers were written: the whole write rolls back
        batch = [make_offer(provider_id="new"), make_offer("runpod"), make_offer(provider_id="x")]
        with pytest.raises(StoreError, match="belongs to runpod"):
            await store.replace_offers("vast_ai", batch)
        unnormalised = make_offer(provider_id="y").model_copy(update={"gpu_model": ""})
        with pytest.raises(StoreError, match="not normalised"):
            await store.replace_offers("vast_ai", [make_offer(provider_id="new"), unnormalised])
        ids = [o.id for o in (await store.search(SearchQuery(available=False))).offers]
        assert ids == ["vast_ai:old"]
        assert await store.get_meta("offers_generation") == "1"
    finally:
        await store.close()


async def test_failed_replace_keeps_the_old_snapshot(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        await store.replace_offers("vast_ai", [make_offer(provider_id="a")])
        # a row the database itself rejects (NOT NULL), after other rows were written
        bad = make_offer(provider_id="b").model_copy(update={"gpu_name": None})
        with pytest.raises((sqlite3.IntegrityError, asyncpg.NotNullViolationError)):
            await store.replace_offers("vast_ai", [make_offer(provider_id="c"), bad])
        ids = [o.id for o in (await store.search(SearchQuery(available=False))).offers]
        assert ids == ["vast_ai:a"]
    finally:
        await store.close()


def _typed(rows: list[tuple[object, ...]]) -> list[list[tuple[object, type]]]:
    return [[(v, type(v)) for v in row] for row in rows]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "t0",
    # the second: a time SQLite reads back 1 ulp off as a literal, so it is bound
    [FIXED_NOW, from_epoch(1768059627.036394)],
    ids=["literal_time", "bound_time"],
)
async def test_sqlite_writes_the_rows_offer_to_row_makes(db_path: Path, t0: datetime) -> None:
    """SQLite's INSERT computes the derived columns, has the provider, the time and
    whether an offer is new written into it, and takes a shared tail for new offers
    (rows.insert_sql): every column, with its storage type, is what the row
    `offer_to_row` makes would store."""
    later = t0 + timedelta(minutes=1)
    first = [
        make_offer(provider_id="a", price_per_hour=2.5, gpu_count=2, verified=True),
        make_offer(provider_id="b", gpu_name="Mystery GPU", verified=False),  # no performance
        # a price that is an int (model_copy skips validation), over 2 GPUs: 3 / 2 = 1.5
        make_offer(provider_id="c", gpu_count=2).model_copy(update={"price_per_hour": 3}),
        make_offer(provider_id="d", provider_data={"k": [1, "x"]}, download=900.5, upload=None),
        make_offer(provider_id="e").model_copy(update={"performance": 0}),
        make_offer(provider_id="a", price_per_hour=9.0),  # listed twice: the first stays
    ]
    second = [
        make_offer(provider_id="a", price_per_hour=2.0, gpu_count=2, fetched_at=later),
        make_offer(provider_id="b", gpu_name="Mystery GPU", fetched_at=later),
        make_offer(provider_id="f", fetched_at=later, available=False),
    ]
    store = await Store.open(db_path)
    try:
        await store.replace_offers("vast_ai", first, fetched_at=t0)
        stored_first = _stored_rows(db_path)
        result = await store.replace_offers("vast_ai", second, fetched_at=later)
        stored_second = _stored_rows(db_path)
    finally:
        await store.close()
    assert (result.added, result.removed, result.price_changes) == (1, 3, 1)
    t0_s, t1 = t0.timestamp(), later.timestamp()
    expected_first = [offer_to_row(o, fetched_at=t0_s) for o in first[:5]]
    expected_second = [
        offer_to_row(second[0], fetched_at=t1, first_seen_at=t0_s, previous_price=2.5),
        offer_to_row(second[1], fetched_at=t1, first_seen_at=t0_s, previous_price=1.0),
        offer_to_row(second[2], fetched_at=t1, is_new=1),
    ]
    assert _typed(stored_first) == _typed(_as_stored(db_path, expected_first))
    assert _typed(stored_second) == _typed(_as_stored(db_path, expected_second))


def _stored_rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            f"SELECT {', '.join(OFFER_COLUMNS)} FROM offers ORDER BY rowid"
        ).fetchall()


def _as_stored(path: Path, rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """`rows` as a plain INSERT into a table of the store's schema stores them."""
    with sqlite3.connect(path) as conn:
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'offers'").fetchone()[0]
    memory = sqlite3.connect(":memory:")
    try:
        memory.execute(ddl)
        columns, marks = ", ".join(OFFER_COLUMNS), ", ".join("?" * len(OFFER_COLUMNS))
        memory.executemany(f"INSERT INTO offers ({columns}) VALUES ({marks})", rows)
        return memory.execute(
            f"SELECT {', '.join(OFFER_COLUMNS)} FROM offers ORDER BY rowid"
        ).fetchall()
    finally:
        memory.close()


async def _traced(store: Store) -> list[str]:
    """Every statement the store's writer runs from now on."""
    statements: list[str] = []
    await run_on_connection(store.db.writer, lambda raw: raw.set_trace_callback(statements.append))
    return statements


@pytest.mark.sqlite_only
async def test_a_write_of_most_of_the_table_rebuilds_its_indexes_after(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offers_module, "BULK_WRITE_ROWS", 5)
    store = await Store.open(db_path)
    statements = await _traced(store)
    try:
        prices = [3.0, 1.0, 2.5, 0.5, 4.0, 1.5, 2.0, 3.5]
        vast = [make_offer(provider_id=str(i), price_per_hour=p) for i, p in enumerate(prices)]
        await store.replace_offers("vast_ai", vast)
        assert 'DROP INDEX "offers_price"' in statements
        # fewer than the other providers' rows: kept up to date, not rebuilt
        statements.clear()
        runpod = [make_offer("runpod", str(i), price_per_hour=0.25 * (i + 1)) for i in range(6)]
        await store.replace_offers("runpod", runpod)
        assert not [s for s in statements if "INDEX" in s]
        # a failed bulk write leaves the index as it was, with its statistics
        bad = make_offer(provider_id="x").model_copy(update={"gpu_name": None})
        statements.clear()
        with pytest.raises(sqlite3.IntegrityError):
            await store.replace_offers("vast_ai", [*vast, bad, *vast[:3]])
        assert 'DROP INDEX "offers_price"' in statements
        page = await store.search(SearchQuery(limit=3))
        assert [o.price_per_hour for o in page.offers] == [0.25, 0.5, 0.5]
    finally:
        await store.close()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'offers_price'"
        ).fetchall() == [("CREATE INDEX offers_price ON offers(price_per_hour)",)]
        assert raw.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = 'offers'").fetchall() == [
            ("offers_price",)
        ]
        plan = raw.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM offers WHERE available = 1"
            " ORDER BY price_per_hour LIMIT 5"
        ).fetchall()
        assert "offers_price" in str(plan)
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _market(n: int) -> list[Offer]:
    models = ("RTX 4090", "H100 SXM", "A100 80GB PCIe")
    return [
        make_offer(
            provider_id=str(i),
            gpu_name=models[i % 3],
            gpu_count=1 + i % 4,
            price_per_hour=0.1 + (i * 7919 % 1000) / 97,
            available=i % 5 != 0,
        )
        for i in range(n)
    ]


async def _raw_history(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as raw:
        return raw.execute("SELECT * FROM price_history ORDER BY gpu_model").fetchall()


@pytest.mark.sqlite_only
async def test_a_bulk_write_makes_the_same_history_while_its_index_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history point of a write whose index is rebuilt is made while SQLite builds
    the index (store/offers.py `_while_running`): the same points as a write that keeps
    its index, to the last bit."""
    offers = _market(300)
    points = []
    for name, bulk_rows in (("kept", 10_000), ("rebuilt", 5)):
        monkeypatch.setattr(offers_module, "BULK_WRITE_ROWS", bulk_rows)
        store = await Store.open(tmp_path / f"{name}.db")
        statements = await _traced(store)
        try:
            await store.replace_offers("vast_ai", offers)
        finally:
            await store.close()
        assert ('DROP INDEX "offers_price"' in statements) == (name == "rebuilt")
        points.append(await _raw_history(tmp_path / f"{name}.db"))
    assert points[0] == points[1]
    assert len(points[0]) == 3


@pytest.mark.sqlite_only
async def test_a_history_that_fails_beside_the_index_build_leaves_the_store_as_it_was(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(offers_module, "BULK_WRITE_ROWS", 5)
    store = await Store.open(db_path)
    try:
        await store.replace_offers("vast_ai", _market(20))

        def broken(self: SnapshotBuilder) -> list[tuple[object, ...]]:
            raise RuntimeError("history broke")

        monkeypatch.setattr(SnapshotBuilder, "history", broken)
        with pytest.raises(RuntimeError, match="history broke"):
            await store.replace_offers("vast_ai", _market(30))
        assert (await store.search(SearchQuery(available=False))).total == 20
        # the write lock is free and the index there: the next write goes through
        monkeypatch.undo()
        monkeypatch.setattr(offers_module, "BULK_WRITE_ROWS", 5)
        assert (await store.replace_offers("vast_ai", _market(40))).offers == 40
    finally:
        await store.close()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'offers_price'").fetchall()
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.sqlite_only
async def test_migrations_bring_an_old_schema_up_to_date(db_path: Path) -> None:
    old = (Migration(1, "first", "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);"),)
    newer = (*old, Migration(2, "add column", "ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'x';"))
    conn = await connect(db_path)
    try:
        assert await migrate(conn, old) == 1
        assert await migrate(conn, newer) == 2
        async with conn.execute("SELECT a, b FROM t") as cur:
            assert await cur.fetchall() == [(1, "x")]
        assert await schema_version(conn) == 2
    finally:
        await conn.close()


@pytest.mark.sqlite_only
async def test_failed_migration_leaves_the_previous_version(db_path: Path) -> None:
    good = (Migration(1, "first", "CREATE TABLE t (a INTEGER);"),)
    broken = (*good, Migration(2, "broken", "ALTER TABLE t ADD COLUMN b; SELECT nope FROM t;"))
    conn = await connect(db_path)
    try:
        await migrate(conn, good)
        with pytest.raises(StoreError, match="migration 2"):
            await migrate(conn, broken)
        assert await schema_version(conn) == 1
        async with conn.execute("PRAGMA table_info(t)") as cur:
            assert [r[1] for r in await cur.fetchall()] == ["a"]
    finally:
        await conn.close()


@pytest.mark.sqlite_only
async def test_real_schema_from_scratch_and_newer_database_refused(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.close()
    conn = await connect(db_path)
    try:
        assert await schema_version(conn) == LATEST_VERSION == MIGRATIONS[-1].version
        await conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    finally:
        await conn.close()
    with pytest.raises(StoreError, match="newer than this gpucm"):
        await Store.open(db_path)


async def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        await Store.open(path)


@pytest.mark.sqlite_only
async def test_migration_8_gives_old_offers_their_own_id_as_host(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        await store.replace_offers("runpod", [make_offer("runpod", "1", "RTX 4090")])
    finally:
        await store.close()
    with sqlite3.connect(db_path) as raw:  # back to a version-7 database
        raw.executescript(
            "ALTER TABLE offers DROP COLUMN host_id; DROP TABLE bad_hosts; DROP TABLE event_outbox;"
            " DROP TABLE armed_watches;"
            " PRAGMA user_version = 7;"
        )
    store = await Store.open(db_path)
    try:
        [offer] = (await store.search(SearchQuery())).offers
        assert offer.host_id == offer.id == "runpod:1"
        await store.hosts.record(offer.host_id, "runpod", "marked_bad", "old offer")
        assert (await store.search(SearchQuery())).offers == []
    finally:
        await store.close()


@pytest.mark.sqlite_only
async def test_migration_6_gives_old_offers_a_level_from_their_flag(db_path: Path) -> None:
    """Offers written before migration 6 knew only `available`: unavailable ones become
    `none`, the others `unknown` (no provider said how much), and no bid is invented."""
    store = await Store.open(db_path)
    try:
        await store.replace_offers(
            "vast_ai",
            [
                make_offer("vast_ai", "1", "RTX 4090", availability="high"),
                make_offer("vast_ai", "2", "RTX 4090", available=False),
            ],
        )
    finally:
        await store.close()
    with sqlite3.connect(db_path) as raw:  # back to a version-5 database
        raw.executescript(
            "ALTER TABLE offers DROP COLUMN availability;"
            " ALTER TABLE offers DROP COLUMN min_bid_per_gpu_hour;"
            " ALTER TABLE offers DROP COLUMN host_id; DROP TABLE bad_hosts;"
            " DROP TABLE event_outbox; DROP TABLE armed_watches;"
            " DROP TABLE spend_intervals; PRAGMA user_version = 5;"
        )
    store = await Store.open(db_path)
    try:
        page = await store.search(SearchQuery(available=False))
        assert {o.provider_id: o.availability for o in page.offers} == {
            "1": "unknown",
            "2": "none",
        }
        assert all(o.min_bid_per_gpu_hour is None for o in page.offers)
    finally:
        await store.close()
