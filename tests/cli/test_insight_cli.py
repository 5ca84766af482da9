"""`gpucm history`, `gpucm filters`, `gpucm offers --preset` and `gpucm watch` on the
demo market, through `main([...])` with a pinned clock moved by hand."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gpucm import paths
from gpucm import services as services_module
from gpucm.cli.main import main
from gpucm.store.history import HistoryPoint
from tests.cli.conftest import Clock

Capsys = pytest.CaptureFixture[str]


def run(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refresh_every(capsys: Capsys, clock: Clock, times: int, minutes: float = 30) -> None:
    for _ in range(times):
        code, _, err = run(capsys, "refresh")
        assert code == 0, err
        clock.advance(minutes * 60)


def store_history(model: str, **kw: Any) -> list[HistoryPoint]:
    async def read() -> list[HistoryPoint]:
        s = await services_module.open_services(demo=True)
        try:
            return await s.store.history([model], **kw)
        finally:
            await s.aclose()

    return asyncio.run(read())


def cheapest(capsys: Capsys, model: str = "RTX 4090") -> float:
    code, out, err = run(capsys, "offers", "--gpu-model", model, "--limit", "1", "--json")
    assert code == 0, err
    return float(json.loads(out)[0]["price_per_hour"])


def test_history_json_is_the_rolled_up_series(capsys: Capsys, cli_clock: Clock) -> None:
    refresh_every(capsys, cli_clock, 5)  # 12:00 .. 14:00, every 30 minutes
    code, out, err = run(capsys, "history", "--gpu-model", "RTX 4090", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["gpu_models"] == ["RTX 4090"]
    assert data["resolution"] == "hourly"  # 7 days by default: hourly rollups
    stored = store_history("RTX 4090", resolution="hourly")
    assert data["points"] == [p.as_json() for p in stored]
    assert {p["provider"] for p in data["points"]} == {"vast_ai", "runpod"}
    assert sorted({p["ts"] for p in data["points"]}) == [
        "2026-11-26T12:00:00+00:00",
        "2026-11-26T13:00:00+00:00",
        "2026-11-26T14:00:00+00:00",
    ]
    assert [p["samples"] for p in data["points"] if p["provider"] == "vast_ai"] == [2, 2, 1]
    assert all(set(p) == set(HistoryPoint.JSON_FIELDS) for p in data["points"])
    # a day: raw points, one per refresh
    code, out, _ = run(capsys, "history", "-g", "RTX 4090", "--since", "1d", "--json")
    raw = json.loads(out)
    assert raw["resolution"] == "raw"
    assert len([p for p in raw["points"] if p["provider"] == "vast_ai"]) == 5


def test_history_table_csv_and_errors(capsys: Capsys, cli_clock: Clock) -> None:
    refresh_every(capsys, cli_clock, 2)
    code, out, err = run(capsys, "history", "-g", "4090", "--since", "24h")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["Time", "(UTC)", "Provider"]
    assert "RTX 4090: 4 raw points" in err
    code, out, _ = run(capsys, "history", "-g", "RTX 4090", "--csv", "--provider", "vast")
    assert out.splitlines()[0] == ",".join(HistoryPoint.JSON_FIELDS)
    assert all(",vast_ai," in line for line in out.splitlines()[1:])
    code, out, err = run(capsys, "history", "-g", "no such gpu")
    assert (code, out) == (0, "")
    assert "no history for no such gpu" in err
    code, _, err = run(capsys, "history", "-g", "RTX 4090", "--since", "7x")
    assert code == 2
    assert "invalid duration '7x'" in err
    assert len(err.strip().splitlines()) == 1


def test_saved_filters_and_presets(capsys: Capsys, cli_clock: Clock) -> None:
    code, _, err = run(capsys, "filters", "save", "big", "gpu=H100 count>=8")
    assert code == 0, err
    assert "gpu=H100 count>=8" in paths.presets_file().read_text()
    code, out, _ = run(capsys, "filters", "--json")
    assert json.loads(out) == [{"name": "big", "query": "gpu=H100 count>=8"}]
    code, out, err = run(capsys, "offers", "--preset", "big", "--max-price", "40", "--json")
    assert code == 0, err
    offers = json.loads(out)
    assert offers and all(o["gpu_count"] >= 8 and "H100" in o["gpu_model"] for o in offers)
    assert all(o["price_per_hour"] <= 40 for o in offers)  # flags narrow the preset
    code, _, err = run(capsys, "offers", "--preset", "nope")
    assert code == 2
    assert err.strip() == "gpucm: --preset: no saved filter named 'nope' (saved: big)"
    code, _, err = run(capsys, "filters", "save", "bad", "price<<2")
    assert code == 2 and "bad query" in err
    code, _, _ = run(capsys, "filters", "delete", "big")
    assert code == 0
    assert run(capsys, "filters", "--json")[1].strip() == "[]"


def test_watch_fires_once_when_the_demo_crosses_the_price(capsys: Capsys, cli_clock: Clock) -> None:
    refresh_every(capsys, cli_clock, 1)
    start = cheapest(capsys)
    bound = round(start * 0.97, 3)  # under today's cheapest RTX 4090: no alert yet
    code, _, err = run(
        capsys, "watch", "add", "cheap", "--query", 'gpu="RTX 4090"',
        "--price-at-or-under", str(bound),
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = run(capsys, "watch", "--once", "--json")
    assert (code, out) == (0, "")
    fired: list[dict[str, Any]] = []
    for _ in range(40):  # the demo's prices drift: some refresh crosses the bound
        cli_clock.advance(15 * 60)
        code, out, err = run(capsys, "watch", "--once", "--json")
        assert code == 0, err
        fired += [json.loads(line) for line in out.splitlines()]
        if fired:
            break
    assert len(fired) == 1, "the demo market crossed the bound within 10 hours"
    alert = fired[0]
    assert alert["watch"] == "cheap" and alert["kind"] == "price"
    assert all(o["price_per_hour"] <= bound for o in alert["offers"])
    # the same offers again: nothing new
    cli_clock.advance(1)
    again = [json.loads(line) for line in run(capsys, "watch", "--once", "--json")[1].splitlines()]
    repeated = {o["id"] for a in again for o in a["offers"]} & {o["id"] for o in alert["offers"]}
    assert not repeated


def test_watch_runs_the_configured_command(
    capsys: Capsys, cli_clock: Clock, tmp_path: Path
) -> None:
    out_file = tmp_path / "alert.json"
    script = f"import sys; open({str(out_file)!r}, 'w').write(sys.stdin.read())"
    paths.config_dir().mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(
        f"watch_command = {json.dumps(f'{sys.executable} -c {json.dumps(script)}')}\n"
    )
    refresh_every(capsys, cli_clock, 1)
    bound = round(cheapest(capsys) * 1.5, 3)  # well above today's cheapest: fires at once
    run(
        capsys,
        "watch",
        "add",
        "now",
        "--query",
        'gpu="RTX 4090"',
        "--price-at-or-under",
        str(bound),
    )
    code, out, err = run(capsys, "watch", "--once")
    assert code == 0, err
    assert "now: 1x RTX 4090 at" in out
    sent = json.loads(out_file.read_text())
    assert sent["watch"] == "now"
    assert sent["offers"] and all(o["price_per_hour"] <= bound for o in sent["offers"])


def test_watch_without_watches_or_conditions_says_how(capsys: Capsys) -> None:
    code, _, err = run(capsys, "watch", "--once")
    assert code == 2 and "no watches yet" in err
    code, _, err = run(capsys, "watch", "add", "w", "--query", "gpu=A100")
    assert code == 2 and "needs --price-at-or-under" in err
    code, _, err = run(capsys, "watch", "add", "w", "--filter", "missing", "--min-offers", "2")
    assert code == 2 and "no saved filter named 'missing'" in err


def test_watch_reset_lets_alerts_fire_again(capsys: Capsys, cli_clock: Clock) -> None:
    refresh_every(capsys, cli_clock, 1)
    run(capsys, "watch", "add", "many", "--query", 'gpu="RTX 4090"', "--min-offers", "3")
    assert "many: " in run(capsys, "watch", "--once")[1]
    assert run(capsys, "watch", "--once")[1] == ""
    code, _, err = run(capsys, "watch", "reset", "many")
    assert code == 0 and "forgot 1 alert" in err
    assert "many: " in run(capsys, "watch", "--once")[1]


def test_watch_list(capsys: Capsys) -> None:
    run(capsys, "filters", "save", "f", "gpu=L40S")
    run(capsys, "watch", "add", "w", "--filter", "f", "--new-provider", "--min-offers", "4")
    _, out, _ = run(capsys, "watch", "list", "--json")
    from gpucm.store.pg.team import whoami

    assert json.loads(out) == [
        {
            "name": "w",
            "owner": whoami().partition("@")[0],
            "query": "gpu=L40S",
            "conditions": [">= 4 offers", "a new provider"],
            "launch": None,
            "armed": False,
            "arming": None,
        }
    ]
    assert timedelta
