"""`gpucm hosts list|forget|mark` on the demo market, through `main([...])`: a machine
marked bad leaves `gpucm offers` until it is forgotten; `hosts=all` shows it."""

from __future__ import annotations

import json

import pytest

from gpucm.cli.main import main
from tests.cli.conftest import Clock

Capsys = pytest.CaptureFixture[str]


@pytest.fixture(autouse=True)
def _pinned(cli_clock: Clock) -> Clock:
    return cli_clock


def run(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def offer_ids(capsys: Capsys, *query: str) -> set[str]:
    code, out, err = run(capsys, "offers", "--json", "--limit", "5000", *query)
    assert code == 0, err
    return {o["id"] for o in json.loads(out)}


def test_a_marked_machine_leaves_the_offers_until_forgotten(capsys: Capsys) -> None:
    code, out, err = run(
        capsys, "instances", "launch", "--gpu-model", "RTX 4090", "--yes", "--label", "dud",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    instance = json.loads(out)
    offer = instance["offer_id"]
    assert offer in offer_ids(capsys)

    code, _, err = run(capsys, "hosts", "mark", instance["id"])
    assert code == 2 and "--reason" in err  # a reason is asked for
    code, _, err = run(capsys, "hosts", "mark", instance["id"], "--reason", "GPU fell off bus")
    assert code == 0, err
    assert "hidden" in err

    assert offer not in offer_ids(capsys)
    assert offer in offer_ids(capsys, "--query", "hosts=all")
    code, out, _ = run(capsys, "hosts", "list", "--json")
    [entry] = json.loads(out)
    assert entry["host"] == offer and entry["kind"] == "marked_bad"
    assert entry["reason"] == "GPU fell off bus" and entry["instance_id"] == instance["id"]

    code, _, err = run(capsys, "hosts", "forget", offer)
    assert code == 0 and "show again" in err
    assert offer in offer_ids(capsys)
    code, _, err = run(capsys, "hosts", "forget", offer)
    assert code == 1 and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["hosts"],
        ["hosts", "forget"],
        ["hosts", "wipe"],
        ["offers", "--query", "hosts=bad"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys: Capsys, argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
