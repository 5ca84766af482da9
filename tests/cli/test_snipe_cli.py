"""Snipe, end to end through the real CLI in subprocesses on the demo market (each
`gpucm watch --once` refreshes: the demo market moves one tick): a watch armed with a
launch action for `gpu="RTX 4090" price<X` fires once when a matching offer appears,
launches exactly one machine that `gpucm instances list` shows with the watch as its
origin, disarms itself, and a second `gpucm watch --once` launches nothing more. Two
`gpucm watch --once` at once launch one machine. On SQLite and on a team's PostgreSQL
store (DATABASE_URL)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from tests.backends import team_store_env as team_store_env  # both backends

RUNS = 40


def gpucm(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    import os

    return subprocess.Popen(
        [sys.executable, "-m", "gpucm", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=240)
    return proc.returncode, out, err


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return finish(gpucm(*args, env=env))


def cheapest_4090() -> float:
    code, out, err = run("offers", "--query", 'gpu="RTX 4090"', "--json", "--limit", "1")
    assert code == 0, err
    return float(json.loads(out)[0]["price_per_hour"])


def instances() -> list[dict[str, Any]]:
    code, out, err = run("instances", "list", "--json")
    assert code == 0, err
    return list(json.loads(out))


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def presets(home: Path) -> dict[str, Any]:
    return tomllib.loads((home / "config" / "filters.toml").read_text(encoding="utf-8"))


async def undo_disarm(name: str) -> None:
    from gpucm.services import open_services

    services = await open_services(demo=True)
    try:
        (row,) = [r for r in await services.store.armed.list() if r.watch == name]
        assert not row.is_armed
        await services.store.armed.arm(
            owner=row.owner,
            watch=row.watch,
            armed=row.armed,
            query=row.query,
            conditions=row.conditions,
            template=row.template,
            by=row.armed_by,
        )
    finally:
        await services.aclose()


def ceiling(bound: float) -> float:
    return round(bound * 1.5, 3)


def arm(bound: float, *extra: str) -> tuple[int, str, str]:
    return run(
        "watch", "add", "snipe", "--query", f'gpu="RTX 4090" price<{bound:g}',
        "--launch", "--max-price-per-hour", f"{ceiling(bound):g}", *extra,
    )  # fmt: skip


def test_an_armed_watch_launches_once_when_an_offer_appears(
    isolated_home: Path, backend: str
) -> None:
    bound = round(cheapest_4090() * 0.97, 3)  # under every RTX 4090 now

    # arming without --yes off a terminal refuses, and says what it would do
    code, _, err = arm(bound)
    assert code == 1 and "not armed" in err
    assert "LAUNCHES WITHOUT ASKING" in err and f"${ceiling(bound):.3f}/h" in err
    code, _, err = arm(bound, "--yes", "--env", "SNIPE_TOKEN")
    assert code == 0, err
    # armed in the store (where the team's refresher finds it), not in the file
    assert "armed" not in presets(isolated_home)["watches"]["snipe"]["launch"]
    (listed,) = json.loads(run("watch", "list", "--json")[1])
    assert listed["armed"] is True and listed["arming"]["disarmed_at"] is None

    env = {"SNIPE_TOKEN": "s3cret-value"}
    fired: list[dict[str, Any]] = []
    runs = 0
    while runs < RUNS:  # each run is a refresh: the demo's prices drift
        runs += 1
        code, out, err = run("watch", "--once", "--json", env=env)
        assert code == 0, err
        assert "s3cret-value" not in out + err
        fired = [e for e in lines(out) if e.get("kind") == "launch"]
        if fired:
            break
        assert instances() == [], "nothing launches before an offer matches"
    assert runs > 1, "the first run had no match: the offer appeared later"
    assert len(fired) == 1, f"no RTX 4090 under ${bound}/h within {RUNS} refreshes"
    event = fired[0]
    assert event["watch"] == "snipe" and event["fired"] and not event["reused"]
    assert "disarmed" in event["message"]
    (launched,) = event["instances"]
    assert launched["origin"] == "watch snipe"

    listed = instances()
    assert len(listed) == 1
    machine = listed[0]
    assert machine["id"] == launched["id"] and machine["origin"] == "watch snipe"
    assert machine["gpu_model"] == "RTX 4090"
    assert machine["name"].startswith("watch-snipe-")
    code, _, err = run("instances", "list")  # the table at 80 columns says it too
    assert code == 0 and f"{machine['id']} was launched by watch snipe" in err
    assert "armed" not in presets(isolated_home)["watches"]["snipe"]["launch"]
    code, out, _ = run("watch", "list", "--json")
    (watch,) = json.loads(out)
    assert watch["armed"] is False and watch["arming"]["disarm_reason"] == "launched"

    # disarmed: another run launches nothing, whatever matches now
    code, out, err = run("watch", "--once", "--json", env=env)
    assert code == 0, err
    assert not [e for e in lines(out) if e.get("kind") == "launch"]
    assert [i["id"] for i in instances()] == [machine["id"]]


def test_a_restart_after_the_launch_launches_nothing_more(
    isolated_home: Path, backend: str
) -> None:
    """The disarm lost (the store's row armed again at the same time, as a crash
    between the launch and the disarm leaves it): the request id derived from the
    arming finds the journal's machine and launches nothing new."""
    bound = round(cheapest_4090() * 1.5, 3)  # matches now
    code, _, err = arm(bound, "--yes")
    assert code == 0, err
    code, out, err = run("watch", "--once", "--json")
    assert code == 0, err
    (first,) = [e for e in lines(out) if e.get("kind") == "launch"]
    assert not first["reused"]
    asyncio.run(undo_disarm("snipe"))

    code, out, err = run("watch", "--once", "--json")
    assert code == 0, err
    (again,) = [e for e in lines(out) if e.get("kind") == "launch"]
    assert again["reused"] and again["fired"]
    assert [i["id"] for i in again["instances"]] == [i["id"] for i in first["instances"]]
    assert len(instances()) == 1


def test_two_concurrent_watch_runs_launch_one_machine(isolated_home: Path, backend: str) -> None:
    bound = round(cheapest_4090() * 1.5, 3)  # matches now
    code, _, err = arm(bound, "--yes")
    assert code == 0, err
    procs = [gpucm("watch", "--once", "--json") for _ in range(2)]
    results = [finish(p) for p in procs]
    assert all(code == 0 for code, _, _ in results), [err for _, _, err in results]
    listed = instances()
    assert len(listed) == 1, listed
    assert listed[0]["origin"] == "watch snipe"
    code, _, err = run("watch", "--once", "--json")
    assert code == 0, err
    assert len(instances()) == 1


def test_arming_refuses_bad_templates(isolated_home: Path) -> None:
    base = ["watch", "add", "w", "--query", 'gpu="RTX 4090"']
    code, _, err = run(*base, "--launch", "--yes")
    assert code == 2 and "--max-price-per-hour" in err
    code, _, err = run(*base, "--image", "x")
    assert code == 2 and "--image goes with --launch" in err
    code, _, err = run(*base, "--launch", "--max-price-per-hour", "1", "--env", "VAST_AI_API_KEY")
    assert code == 2 and "never sends its own API keys" in err
    code, _, err = run(*base, "--launch", "--max-price-per-hour", "1", "--env", "A=b", "--yes")
    assert code == 2 and "variable name" in err
    code, _, err = run(*base, "--launch", "--max-price-per-hour", "1", "--bid", "0.1", "--yes")
    assert code == 2 and "--bid goes with --spot" in err
    code, _, err = run(*base, "--launch", "--max-price-per-hour", "1", "--count", "9", "--yes")
    assert code == 2 and "--count: a whole number from 1 to 8, not 9" in err
    # the file's rules, checked before the arming is shown or confirmed
    for flag, value in (("--max-price-per-hour", "0"), ("--disk", "inf"), ("--image", " ")):
        args = ["--launch", "--max-price-per-hour", "1", flag, value, "--yes"]
        if flag == "--max-price-per-hour":
            args = ["--launch", flag, value, "--yes"]
        code, out, err = run(*base, *args)
        assert code == 2 and f"{flag}: " in err, err
        assert "Arming" not in out + err
    code, _, err = run("watch", "arm", "nope", "--yes")
    assert code == 2 and "no watch named" in err
    assert not (isolated_home / "config" / "filters.toml").exists()
