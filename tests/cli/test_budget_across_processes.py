"""The budget holds across processes: eight `gpucm instances launch` processes at once
against a $1.00/h budget on the demo market start machines worth at most $1.00/h, and
`gpucm instances list` shows every one that started (the demo's instance state loses
none of them). Two processes launching with one request id at once start one machine.
Both on SQLite and on a team's PostgreSQL store (DATABASE_URL), where the processes
share nothing but the server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gpucm.domain.models import Offer
from gpucm.domain.pricing import all_in
from gpucm.providers.demo_instances import fails_for_capacity
from tests.backends import team_store_env as team_store_env  # both backends

BUDGET = 1.0
PROCESSES = 8


def gpucm(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gpucm", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=240)
    return proc.returncode, out, err


def test_eight_concurrent_launches_never_pass_the_budget(isolated_home: Path) -> None:
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f"[budget]\nmax_hourly_usd = {BUDGET}\n", encoding="utf-8")
    code, out, err = finish(gpucm("offers", "--gpu-model", "RTX 3090", "--json", "--limit", "50"))
    assert code == 0, err
    offer = next(o for o in json.loads(out) if not fails_for_capacity(o["id"]))
    rate = all_in(Offer.model_validate(offer), None).per_hour  # what each launch reserves
    # the budget must bind: all eight would pass it
    assert PROCESSES * rate > BUDGET

    launch = ["instances", "launch", "--offer", offer["id"], "--yes", "--json"]
    procs = [gpucm(*launch, "--request-id", f"bud-{n}") for n in range(PROCESSES)]
    results = [finish(p) for p in procs]

    launched = [json.loads(out) for code, out, _ in results if code == 0]
    refused = [err for code, _, err in results if code != 0]
    assert launched, [err for _, _, err in results]
    assert all(code in (0, 1) for code, _, _ in results), [err for _, _, err in results]
    for err in refused:
        assert "budget of $1.00/h" in err and "nothing was launched" in err, err
    assert len(launched) * rate <= BUDGET + 1e-9
    assert sum(i["price_per_hour"] for i in launched) <= BUDGET + 1e-9
    # as many as fit: one more would have passed it
    assert (len(launched) + 1) * rate > BUDGET

    code, out, err = finish(gpucm("instances", "list", "--json"))
    assert code == 0, err
    listed = {i["id"] for i in json.loads(out)}
    assert {i["id"] for i in launched} <= listed
    assert len(listed) == len(launched)


def test_one_request_id_from_two_processes_at_once_starts_one_machine(backend: str) -> None:
    code, out, err = finish(gpucm("offers", "--gpu-model", "RTX 4090", "--json", "--limit", "50"))
    assert code == 0, err
    offer = next(o for o in json.loads(out) if not fails_for_capacity(o["id"]))
    launch = ["instances", "launch", "--offer", offer["id"], "--yes", "--json"]
    procs = [gpucm(*launch, "--request-id", "same-request") for _ in range(2)]
    results = [finish(p) for p in procs]
    # whichever writes the journal first launches; the other returns that machine, or,
    # while its launch is still on the way, refuses to launch again
    launched = [json.loads(out) for code, out, _ in results if code == 0]
    assert launched, [err for _, _, err in results]
    for code, _, err in results:
        assert code == 0 or "its outcome is not known yet" in err, err
    ids = {i["id"] for i in launched}
    assert len(ids) == 1
    # in a team's store each machine says who launched it (user@host); alone, nobody asks
    launched_by = {i["launched_by"] for i in launched}
    if backend == "sqlite":
        assert launched_by == {None}
    else:
        (who,) = launched_by
        assert who and "@" in who
    code, out, err = finish(gpucm("instances", "list", "--json"))
    assert code == 0, err
    assert {i["id"] for i in json.loads(out)} == ids


def test_the_monthly_budget_counts_this_months_spend_across_processes(
    isolated_home: Path,
) -> None:
    """Eight processes at once against a monthly budget that this month's earlier spend
    (in the ledger) has mostly used: the launches that start are exactly those whose
    rate, held to the month's end, fits what is left."""
    import asyncio
    import os
    from datetime import UTC, datetime

    from gpucm import paths
    from gpucm.domain.clock import month_start
    from gpucm.engine.spend import hours_left_in_month
    from gpucm.store.store import Store

    code, out, err = finish(gpucm("offers", "--gpu-model", "RTX 3090", "--json", "--limit", "50"))
    assert code == 0, err
    offer = next(o for o in json.loads(out) if not fails_for_capacity(o["id"]))
    rate = all_in(Offer.model_validate(offer), None).per_hour
    now = datetime.now(UTC)
    to_month_end = rate * hours_left_in_month(now)
    spent = 2 * to_month_end  # a machine that ran earlier this month, since terminated
    location = os.environ.get("DATABASE_URL") or paths.data_db_path(demo=True)

    async def seed() -> None:
        store = await Store.open(location)
        try:
            start = month_start(now).timestamp()
            hours = min(spent / 100.0, (now.timestamp() - start) / 3600 - 0.01)
            async with store.db.write() as tx:
                await tx.execute(
                    "INSERT INTO spend_intervals (instance_id, provider, name, gpu,"
                    " launched_by, kind, started_at, ended_at, rate, reported)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)",
                    ("vast_ai:old", "vast_ai", "old", "1x A100", None, "compute",
                     start, start + hours * 3600, spent / hours, 1),
                )  # fmt: skip
        finally:
            await store.close()

    asyncio.run(seed())
    budget = spent + 2.5 * to_month_end  # room for two more to the month's end
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f"[budget]\nmonthly_usd = {budget:.6f}\n", encoding="utf-8")

    launch = ["instances", "launch", "--offer", offer["id"], "--yes", "--json"]
    procs = [gpucm(*launch, "--request-id", f"month-{n}") for n in range(PROCESSES)]
    results = [finish(p) for p in procs]
    launched = [json.loads(out) for code, out, _ in results if code == 0]
    refused = [err for code, _, err in results if code != 0]
    # without the month's earlier spend four would fit; with it, two
    assert len(launched) == 2, [err for _, _, err in results]
    for err in refused:
        assert "monthly budget" in err and "spent so far" in err, err

    code, out, err = finish(gpucm("spend", "--json"))
    assert code == 0, err
    assert json.loads(out)["month_usd"] >= spent - 1e-6
