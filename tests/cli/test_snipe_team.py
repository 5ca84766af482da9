"""A team snipes once: bob arms a watch, and the process that fires armed watches
(alice's, the team's refresher) launches it, exactly once, with the watch as its
origin; bob's own process, not the refresher, launches nothing; later firings by
either launch nothing more; and both see it disarmed. Two users: each their own
GPUCM_HOME (their own filters.toml) and OS user (LOGNAME), one store: a team's
PostgreSQL store (DATABASE_URL), or one SQLite file both open (GPUCM_DB), where no
refresher is elected and whichever process fires first launches it.

Arming and listing run the real CLI in subprocesses as each user; the firing runs
`gpucm watch`'s own per-refresh step in this process, as alice (her refresh workers
the team's refresher) and as bob (not), with bob's `gpucm watch --once` asking
alice's process for its round meanwhile; then `gpucm watch --once` for each."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpucm.cli.insight import WATCH_CHANNEL, _check_and_deliver
from gpucm.engine.watches import WatchChecker
from gpucm.presets import load_book
from gpucm.services import Services, open_services
from tests.backends import team_store_env as team_store_env  # both backends


class User:
    def __init__(self, name: str, home: Path, shared: dict[str, str]) -> None:
        self.name = name
        self.home = home
        self.env = {"GPUCM_HOME": str(home), "LOGNAME": name, "USER": name, **shared}

    def run(self, *args: str) -> tuple[int, str, str]:
        proc = subprocess.run(
            [sys.executable, "-m", "gpucm", *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **self.env},
            timeout=240,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def json(self, *args: str) -> Any:
        code, out, err = self.run(*args)
        assert code == 0, err
        return json.loads(out)

    def launches(self, *args: str) -> list[dict[str, Any]]:
        code, out, err = self.run(*args)
        assert code == 0, err
        said = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [e for e in said if e.get("kind") == "launch"]

    async def services(self, monkeypatch: pytest.MonkeyPatch) -> Services:
        """This user's process, opened here (who it is is read when it opens)."""
        for key, value in self.env.items():
            monkeypatch.setenv(key, value)
        return await open_services(demo=True)


async def fire_round(
    user: User, services: Services, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> list[dict[str, Any]]:
    """`gpucm watch`'s step after a refresh lands, in `user`'s process: it fires the
    armed watches only if this process fires them (alone, or the team's refresher)."""
    for key, value in user.env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    await _check_and_deliver(
        services,
        WatchChecker(services.store, WATCH_CHANNEL),
        load_book(),
        as_json=True,
        may_launch=services.fires_watches(),
    )
    out = capsys.readouterr().out
    said = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in said if e.get("kind") == "launch"]


async def test_a_members_armed_watch_is_launched_once_by_the_teams_refresher(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    shared = {} if backend == "postgresql" else {"GPUCM_DB": str(tmp_path / "shared.db")}
    alice = User("alice", tmp_path / "alice", shared)
    bob = User("bob", tmp_path / "bob", shared)
    (cheapest,) = bob.json("offers", "--query", 'gpu="RTX 4090"', "--json", "--limit", "1")
    ceiling = round(float(cheapest["price_per_hour"]) * 1.5, 3)
    code, _, err = bob.run(
        "watch", "add", "snipe", "--query", 'gpu="RTX 4090"', "--launch",
        "--max-price-per-hour", f"{ceiling:g}", "--price-at-or-under", f"{ceiling:g}",
        "--env", "SNIPE_TOKEN", "--yes",
    )  # fmt: skip
    assert code == 0, err
    team = backend == "postgresql"
    assert ("refresher launches it with its own keys and environment" in err) == team
    code, _, err = alice.run(
        "watch", "add", "h100", "--query", "gpu=H100", "--price-at-or-under", "0.01"
    )  # fmt: skip
    assert code == 0, err
    own, armed = alice.json("watch", "list", "--json")  # hers, then the team's
    assert own["owner"] == "alice" and own["name"] == "h100" and not own["armed"]
    assert armed["owner"] == "bob" and armed["name"] == "snipe" and armed["armed"]
    assert armed["launch"]["env"] == ["SNIPE_TOKEN"]
    assert armed["conditions"] == [f"price <= ${ceiling:g}/h"]

    monkeypatch.setenv("SNIPE_TOKEN", "team-s3cret")  # the firing process's environment
    alices = await alice.services(monkeypatch)
    bobs = await bob.services(monkeypatch)
    refresher = alices.scheduler()  # alice's refresh workers: the team's refresher
    running = asyncio.create_task(refresher.run()) if team else None
    try:
        if team:
            for _ in range(500):
                if alices.fires_watches():
                    break
                await asyncio.sleep(0.02)
            assert alices.fires_watches()
            # bob's process is not the refresher: it launches nothing, though it matches
            assert not bobs.fires_watches()
            assert await fire_round(bob, bobs, monkeypatch, capsys) == []
            # nor does his cron run, which asks alice's process for the round
            code, out, err = await asyncio.to_thread(bob.run, "watch", "--once", "--json")
            assert code == 0, err
            assert "nothing was launched here" in err and '"kind": "launch"' not in out
            assert await bobs.instances.list() == []
        (fired,) = await fire_round(alice, alices, monkeypatch, capsys)
        assert fired["owner"] == "bob" and fired["fired"] and not fired["reused"]
        assert fired["message"].startswith("bob's snipe: launched ")
        assert "team-s3cret" not in json.dumps(fired)
        # fired again, by either: nothing more (disarmed)
        assert await fire_round(alice, alices, monkeypatch, capsys) == []
        assert await fire_round(bob, bobs, monkeypatch, capsys) == []
    finally:
        if running is not None:
            running.cancel()
            await asyncio.wait([running])
        await refresher.stop()
        await bobs.aclose()
        await alices.aclose()

    (machine,) = bob.json("instances", "list", "--json")
    assert machine["origin"] == "watch snipe"
    assert machine["id"] == fired["instances"][0]["id"]
    if team:
        assert machine["launched_by"].startswith("alice@")
    # a later `gpucm watch --once` (cron) by either launches nothing more
    assert alice.launches("watch", "--once", "--json") == []
    assert bob.launches("watch", "--once", "--json") == []
    assert len(alice.json("instances", "list", "--json")) == 1

    (mine,) = bob.json("watch", "list", "--json")
    assert mine["owner"] == "bob" and mine["armed"] is False
    assert mine["arming"]["disarmed_by"].startswith("alice@")
    assert mine["arming"]["disarm_reason"] == "launched"
    _, theirs = alice.json("watch", "list", "--json")
    assert theirs["owner"] == "bob" and theirs["armed"] is False
    code, _, err = alice.run("watch", "list")
    assert code == 0 and "bob's disarmed" in err and "(launched)" in err
