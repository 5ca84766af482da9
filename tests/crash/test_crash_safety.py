"""Crash safety with real processes and SIGKILL: a refresh killed mid-write leaves a
sound database holding the old or the new snapshot, never a mix; readers never see a
half-written snapshot; a launch killed between the provider call and the journal
update is reconciled on the next start without a second instance."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gpucm.domain.models import SearchQuery
from gpucm.engine.launcher import LaunchOptions
from gpucm.services import open_services
from gpucm.store.store import Store
from tests.conftest import FIXED_NOW
from tests.crash.crash_worker import REQUEST_ID, SNAPSHOT_SIZE

REPO = Path(__file__).resolve().parents[2]
# seconds after a "begin" line: from the first statement to past the commit
KILL_DELAYS = (0.0, 0.01, 0.03, 0.06, 0.1, 0.15, 0.25, 0.4)


@contextmanager
def worker(mode: str, db: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.crash.crash_worker", mode, str(db)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def wait_for(proc: subprocess.Popen[str], prefix: str, timeout: float = 60) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"worker ended before {prefix!r}: {err[-2000:]}")
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no {prefix!r} within {timeout} s")


def snapshot_state(db: Path) -> tuple[str, int, set[str]]:
    with sqlite3.connect(db) as conn:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        # these writes drop and rebuild the price index inside their transaction
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'offers_price'").fetchone():
            check = "the offers_price index is missing"
        rows = conn.execute(
            "SELECT substr(provider_id, 1, 1), count(*) FROM offers WHERE provider = 'vast_ai'"
            " GROUP BY 1"
        ).fetchall()
    return check, sum(n for _, n in rows), {tag for tag, _ in rows}


def test_a_refresh_killed_mid_write_leaves_the_old_or_the_new_snapshot(
    tmp_path: Path,
) -> None:
    db = tmp_path / "crash.db"
    seen: list[str] = []
    for i, delay in enumerate(KILL_DELAYS):
        with worker("snapshots", db) as proc:
            # kill it inside the second snapshot (b over a) or, every other time, the
            # third (a over b): mid-statement, mid-transaction or just past a commit
            wait_for(proc, "end 0" if i % 2 == 0 else "end 1")
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        check, count, tags = snapshot_state(db)
        assert check == "ok", f"kill {i}: integrity_check said {check}"
        assert count == SNAPSHOT_SIZE, f"kill {i} after {delay}s: {count} offers"
        assert len(tags) == 1, f"kill {i}: a mix of snapshots {tags}"
        seen.append(tags.pop())
    # the kills landed both before and after commits: both outcomes were exercised
    assert set(seen) == {"a", "b"}, seen


@pytest.mark.parametrize("offer_index", [False, True], ids=["sql", "offer-index"])
async def test_a_reader_never_sees_a_half_written_snapshot(
    tmp_path: Path, offer_index: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpucm.store.offer_index import OfferIndex

    answered = []
    page_of = OfferIndex.page
    monkeypatch.setattr(
        OfferIndex, "page", lambda self, *a, **k: answered.append(1) or page_of(self, *a, **k)
    )
    db = tmp_path / "read.db"
    store = await Store.open(db, clock=lambda: FIXED_NOW, offer_index=offer_index)
    try:
        with worker("snapshots", db) as proc:
            await asyncio.to_thread(wait_for, proc, "end 0")
            reads = 0
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                page = await store.search(
                    SearchQuery(available=False, providers=("vast_ai",), limit=50)
                )
                tags = {o.provider_id[0] for o in page.offers}
                assert page.total == SNAPSHOT_SIZE
                assert len(tags) == 1
                reads += 1
            ends = 0
            assert proc.stdout is not None
            os.set_blocking(proc.stdout.fileno(), False)
            ends = sum(1 for line in proc.stdout if line.startswith("end"))
            assert reads > 20
            assert ends >= 2, "the writer replaced snapshots while we read"
            # with the index on, it answered some of the reads between writes
            assert bool(answered) == offer_index
    finally:
        await store.close()


async def test_a_launch_killed_before_the_journal_update_is_reconciled(
    tmp_path: Path,
) -> None:
    db = tmp_path / "launch.db"
    with worker("launch", db) as proc:
        created = await asyncio.to_thread(wait_for, proc, "created")
        await asyncio.to_thread(proc.wait, 60)
    assert proc.returncode == -signal.SIGKILL
    offer_id = created.split()[1]
    services = await open_services(db=db, demo=True)
    try:
        record = await services.store.journal.get(REQUEST_ID)
        assert record is not None and record.state == "pending"
        settled = await services.launcher.reconcile()
        assert [(r.request_id, r.state) for r in settled] == [(REQUEST_ID, "done")]
        # the same request again returns that instance and creates none
        offer = await services.store.get_offer(offer_id)
        assert offer is not None
        options = LaunchOptions(request_id=REQUEST_ID, label="train")
        outcome = await services.launcher.launch(
            await services.launcher.preflight(offer, options), options
        )
        assert outcome.reused
        demo = await services.store.get_demo_state(f"instances:{offer.provider}")
        assert len(demo) == 1
        assert (await services.store.journal.get(REQUEST_ID)).instance_id == outcome.instance.id  # type: ignore[union-attr]
    finally:
        await services.aclose()


@pytest.fixture(autouse=True)
def _home(isolated_home: Path) -> None:
    """The workers inherit GPUCM_HOME from the environment the fixture set."""
