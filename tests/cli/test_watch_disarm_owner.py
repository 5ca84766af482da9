"""`gpucm watch disarm NAME --owner USER`: anyone sharing the store stops another
member's snipe, and the arming says who disarmed it. Through `main([...])` in this
process, each user by their own GPUCM_HOME and OS user (LOGNAME), one store: a team's
PostgreSQL store (DATABASE_URL) or one SQLite file both open (GPUCM_DB)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpucm.cli.main import main
from tests.backends import team_store_env as team_store_env  # both backends

Capsys = pytest.CaptureFixture[str]


class As:
    """Runs gpucm as one user."""

    def __init__(
        self, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
    ) -> None:
        self.name = name
        self.home = tmp_path / name
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def run(self, *argv: str) -> tuple[int, str, str]:
        for var in ("LOGNAME", "USER"):
            self.monkeypatch.setenv(var, self.name)
        self.monkeypatch.setenv("GPUCM_HOME", str(self.home))
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def arm_snipe(self) -> None:
        """A watch `snipe` armed to launch (at a ceiling nothing meets)."""
        code, _, err = self.run(
            "watch", "add", "snipe", "--query", 'gpu="RTX 4090"', "--launch",
            "--max-price-per-hour", "0.01", "--yes",
        )  # fmt: skip
        assert code == 0, err

    def listed(self) -> dict[str, Any]:
        code, out, err = self.run("watch", "list", "--json")
        assert code == 0, err
        return {f"{w['owner']}/{w['name']}": w for w in json.loads(out)}


@pytest.fixture
def users(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> tuple[As, As]:
    if backend == "sqlite":
        monkeypatch.setenv("GPUCM_DB", str(tmp_path / "shared.db"))
    bob = As("bob", tmp_path, monkeypatch, capsys)
    bob.arm_snipe()
    return As("alice", tmp_path, monkeypatch, capsys), bob


def test_a_member_disarms_anothers_watch_and_the_listing_says_who(users: tuple[As, As]) -> None:
    alice, bob = users
    assert alice.listed()["bob/snipe"]["armed"] is True
    # without --owner it is her own watch she names: she has none of that name
    code, _, err = alice.run("watch", "disarm", "snipe")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert bob.listed()["bob/snipe"]["armed"] is True

    code, _, err = alice.run("watch", "disarm", "snipe", "--owner", "bob")
    assert code == 0, err
    assert err.startswith("bob's watch snipe: disarmed (by alice@")
    for who in (alice, bob):
        row = who.listed()["bob/snipe"]
        assert row["armed"] is False
        assert row["arming"]["disarmed_by"].startswith("alice@")
        assert row["arming"]["disarm_reason"] == "manual"
    code, _, err = bob.run("watch", "list")
    assert code == 0 and "snipe: disarmed" in err and "by alice@" in err
    # again: nothing to do, and it says since when and by whom
    code, _, err = alice.run("watch", "disarm", "snipe", "--owner", "bob@jumpbox-1")
    assert code == 0 and err.startswith("bob's watch snipe: was not armed (disarmed ")
    assert "by alice@" in err


def test_a_missing_watch_or_owner_is_one_line_and_exit_2(users: tuple[As, As]) -> None:
    alice, bob = users
    for argv in (
        ["nope", "--owner", "bob"],
        ["snipe", "--owner", "carol"],
        ["snipe", "--owner", " "],
    ):
        code, out, err = alice.run("watch", "disarm", *argv)
        assert code == 2 and out == "", err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert (
        "carol has no armed watch named snipe"
        in alice.run("watch", "disarm", "snipe", "--owner", "carol")[2]
    )
    assert bob.listed()["bob/snipe"]["armed"] is True


@pytest.mark.sqlite_only
def test_owner_on_a_one_user_store(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    """One user's SQLite store: --owner naming this user is accepted; another user
    has no watches here, which it says in one line."""
    alice = As("alice", tmp_path, monkeypatch, capsys)
    alice.arm_snipe()
    code, _, err = alice.run("watch", "disarm", "snipe", "--owner", "bob")
    assert code == 2
    assert err.strip() == (
        "gpucm: bob has no armed watch named snipe in this store"
        " (not a team's store: DATABASE_URL is not set)"
    )
    code, _, err = alice.run("watch", "disarm", "snipe", "--owner", "alice")
    assert code == 0 and err.startswith("alice's watch snipe: disarmed")
    assert alice.listed()["alice/snipe"]["armed"] is False
