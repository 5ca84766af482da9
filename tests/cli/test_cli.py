"""The headless CLI on the demo market: JSON shapes, filters, and clean errors."""

from __future__ import annotations

import csv
import io
import itertools
import json
import subprocess
import sys
from typing import Any

import pytest

from gpucm.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_offers_rtx4090_under_2_cheapest_first(capsys: pytest.CaptureFixture[str]) -> None:
    offers = run_json(capsys, "offers", "--gpu-model", "RTX 4090", "--max-price", "2")
    assert offers, "the demo market has RTX 4090s under $2/h"
    assert {o["gpu_model"] for o in offers} == {"RTX 4090"}
    assert all(o["available"] and o["price_per_hour"] <= 2 for o in offers)
    prices = [o["price_per_hour"] for o in offers]
    assert prices == sorted(prices)
    first = offers[0]
    for key in (
        "id",
        "provider",
        "provider_id",
        "gpu_name",
        "gpu_info",
        "gpu_count",
        "gpu_memory_gb",
        "price_per_gpu_hour",
        "vcpus",
        "ram_gb",
        "storage_gb",
        "region",
        "country",
        "reliability",
        "performance",
        "network_info",
        "cuda_version",
        "verified",
        "fetched_at",
        "value",
    ):
        assert key in first
    assert first["gpu_info"]["name"] == "RTX 4090"
    assert set(first["network_info"]) == {"download_mbps", "upload_mbps"}


def test_json_is_data_only_and_demo_is_labelled(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "offers", "--limit", "3", "--json")
    assert code == 0
    assert len(json.loads(out)) == 3
    assert "DEMO" in err
    assert "DEMO" not in out


def test_models_json_holds_seed_entries(capsys: pytest.CaptureFixture[str]) -> None:
    models = {m["name"]: m for m in run_json(capsys, "models")}
    assert len(models) >= 60
    rtx = models["RTX 4090"]
    assert (
        rtx["memory_gb"],
        rtx["compute_capability"],
        rtx["architecture"],
        rtx["category"],
        rtx["performance_score"],
    ) == (24, 8.9, "Ada Lovelace", "consumer", 100)
    h100 = models["H100"]
    assert (
        h100["memory_gb"],
        h100["compute_capability"],
        h100["architecture"],
        h100["category"],
        h100["performance_score"],
    ) == (80, 9.0, "Hopper", "datacenter", 150)


def test_stats_json_has_the_original_keys(capsys: pytest.CaptureFixture[str]) -> None:
    stats = run_json(capsys, "stats")
    for key in (
        "total_instances",
        "available_instances",
        "model_stats",
        "provider_stats",
        "average_price",
        "price_range",
    ):
        assert key in stats
    assert stats["total_instances"] >= 1000
    assert set(stats["price_range"]) >= {"min", "max", "avg"}
    entry = stats["model_stats"]["RTX 4090"]
    for key in ("model", "available_count", "min_price", "max_price", "avg_price", "providers"):
        assert key in entry
    assert entry["min_price"] <= entry["median_price"] <= entry["max_price"]
    assert set(stats["provider_stats"]) == {"vast_ai", "runpod", "lambda_labs", "paperspace"}


def test_providers_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "refresh")
    providers = run_json(capsys, "providers")
    assert [p["name"] for p in providers] == ["vast_ai", "runpod", "lambda_labs", "paperspace"]
    for p in providers:
        for key in (
            "display_name",
            "website",
            "regions",
            "gpu_models",
            "features",
            "is_configured",
        ):
            assert key in p
        assert p["health"]["status"] == "ok"
        assert p["gpu_models"]


def test_separate_commands_see_one_market_that_moves(capsys: pytest.CaptureFixture[str]) -> None:
    first = {
        o["id"]: o["price_per_hour"]
        for o in run_json(capsys, "offers", "--all", "--provider", "vast")
    }
    again = {
        o["id"]: o["price_per_hour"]
        for o in run_json(capsys, "offers", "--all", "--provider", "vast")
    }
    assert first == again  # reading does not move the market
    code, out, _ = run(capsys, "refresh")
    assert code == 0
    assert out.count("offers") == 4
    moved = {
        o["id"]: o["price_per_hour"]
        for o in run_json(capsys, "offers", "--all", "--provider", "vast")
    }
    assert moved != first


def test_csv_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "offers", "--gpu-model", "H100", "--csv", "--limit", "5")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert 0 < len(rows) <= 5
    assert all(r["gpu_model"].startswith("H100") for r in rows)


def test_table_fits_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "offers", "--gpu-category", "datacenter")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("ID")
    assert len(lines) == 31  # header + the default 30 rows
    assert max(len(line) for line in lines) <= 80
    assert "more" in err
    for cmd in ("models", "providers", "stats"):
        code, out, _ = run(capsys, cmd)
        assert code == 0
        assert max(len(line) for line in out.splitlines()) <= 80, cmd


def test_query_text_and_flags_combine(capsys: pytest.CaptureFixture[str]) -> None:
    offers = run_json(
        capsys,
        "offers",
        "--provider",
        "vast_ai",
        "--query",
        'gpu="RTX 4090",A100 price<1.5 sort=-performance',
    )
    assert offers
    assert all(o["provider"] == "vast_ai" and o["price_per_hour"] <= 1.5 for o in offers)
    assert {o["gpu_model"].split()[0] for o in offers} <= {"RTX", "A100"}
    perf = [o["performance"] for o in offers]
    assert perf == sorted(perf, reverse=True)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["offers", "--query", "price<<2"], "price<<2"),
        (["offers", "--query", "colour=red"], "colour"),
        (["offers", "--max-price", "abc"], "--max-price"),
        (["offers", "--provider", "aws"], "aws"),
        (["offers", "--min-price", "5", "--max-price", "1"], "min_price"),
        (["offers", "--limit", "-1"], "--limit"),
        (["nonsense"], "nonsense"),
    ],
)
def test_bad_input_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err
    assert "Traceback" not in err


def test_malformed_query_in_a_real_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gpucm", "offers", "--query", 'gpu="RTX 4090'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_refresh_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "refresh", "--provider", "lambda")
    assert code == 0
    assert out.startswith("Lambda Cloud:")


def test_limit_and_offset_in_the_query_hold_unless_a_flag_says_otherwise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    every = [o["id"] for o in run_json(capsys, "offers", "-q", "gpu=H100")]
    assert len(every) > 5
    page = [o["id"] for o in run_json(capsys, "offers", "-q", "gpu=H100 limit=2 offset=3")]
    assert page == every[3:5]
    flagged = run_json(capsys, "offers", "-q", "gpu=H100 limit=2 offset=3", "--limit", "4")
    assert [o["id"] for o in flagged] == every[3:7]
    flagged = run_json(capsys, "offers", "-q", "gpu=H100 limit=2 offset=3", "--offset", "0")
    assert [o["id"] for o in flagged] == every[:2]


def test_min_availability_and_spot(capsys: pytest.CaptureFixture[str]) -> None:
    confirmed = run_json(capsys, "offers", "--min-availability", "low", "--json")
    assert confirmed and {o["availability"] for o in confirmed} <= {"low", "medium", "high"}
    assert "paperspace" not in {o["provider"] for o in confirmed}
    by_text = run_json(capsys, "offers", "--query", "avail>=high provider=runpod", "--json")
    assert by_text and {o["availability"] for o in by_text} == {"high"}
    ranked = run_json(capsys, "offers", "--query", "spot", "--limit", "20", "--json")
    spots = [o["spot_price_per_hour"] for o in ranked]
    assert None not in spots and spots == sorted(spots)
    code, _, err = run(capsys, "offers", "--min-availability", "unknown")
    assert code == 2 and "invalid choice" in err
    code, _, err = run(capsys, "offers", "--query", "avail>=unknown")
    assert code == 2 and "unknown is no level" in err


def test_fits_lists_only_offers_whose_total_vram_holds_the_weights_with_the_margin() -> None:
    # through the real CLI: `gpucm offers --query 'fits=70B@bf16'`
    proc = subprocess.run(
        [sys.executable, "-m", "gpucm", "offers", "--query", "fits=70B@bf16", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    offers = json.loads(proc.stdout)
    assert offers, "the demo market has machines that hold a 70B model"
    needed = 140.0 * 1.2  # 70B x 2 bytes, and README's 20 % margin
    assert all(o["gpu_memory_gb"] * o["gpu_count"] >= needed for o in offers)
    # bf16 needs Ampere or newer: no Turing or Volta
    assert not {o["gpu_model"] for o in offers} & {"T4", "V100 32GB", "Quadro RTX 8000"}
    assert "fits=70B@bf16: weights 70B x 2 B (bf16) = 140.0 GB" in proc.stderr
    everything = subprocess.run(
        [sys.executable, "-m", "gpucm", "offers", "--json", "--limit", "100000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    every = json.loads(everything.stdout)
    # what it leaves out includes machines big enough per GPU but too small in all
    left_out = [o for o in every if o["id"] not in {f["id"] for f in offers}]
    assert any(
        o["gpu_memory_gb"] >= 80 and o["gpu_memory_gb"] * o["gpu_count"] < needed for o in left_out
    )
    # ranked by all-in $/h: the price plus storage billed by the GB-month for the
    # weights' 140 GB plus the default 50 GB disk
    assert "Ranked by all-in $/h" in proc.stderr and "190 GB disk" in proc.stderr
    all_in = [
        o["price_per_hour"] + (o["storage_price_per_gb_month"] or 0) * 190 / 730 for o in offers
    ]
    assert all_in == sorted(all_in)
    # somewhere a cheaper $/h with dearer storage ranks below one cheaper all-in
    assert any(a["price_per_hour"] > b["price_per_hour"] for a, b in itertools.pairwise(offers))


@pytest.mark.parametrize(
    "argv",
    [["--fits", "70B@bf99"], ["--query", "fits=lots"], ["--fits", "70B@int4,train"]],
)
def test_a_bad_workload_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, "offers", *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_an_empty_table_names_the_term_no_provider_lists(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # as the TUI's empty table does: "Mars" is no region, H999 no GPU anyone offers
    code, out, err = run(capsys, "offers", "-q", "region=Mars")
    assert code == 0 and out == ""
    assert "No offers match: unknown region 'Mars' (no provider lists it)" in err
    assert "Region groups: " in err and "Europe" in err
    code, out, err = run(capsys, "offers", "-q", "gpu=H999 region=Europe")
    assert "unknown GPU 'H999'" in err and "region" not in err.split("unknown", 1)[1]
    # terms that exist, with nothing under the price: the plain advice
    code, out, err = run(capsys, "offers", "-q", "region=Europe price<0.001")
    assert "No offers match. Loosen a filter" in err and "unknown" not in err
