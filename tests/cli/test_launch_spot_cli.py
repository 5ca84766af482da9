"""`gpucm instances launch --spot [--bid]` and the offer-gone / over-the-maximum
equivalents, on the demo market through `main([...])`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gpucm.domain.models import Offer
from gpucm.domain.pricing import default_bid
from gpucm.providers.demo import DemoProvider
from tests.cli.conftest import Clock
from tests.cli.test_instances_cli import (
    Capsys,
    Terminal,
    all_records,
    launchable,
    one_line,
    run,
    run_json,
)


@pytest.fixture(autouse=True)
def _pinned(cli_clock: Clock) -> Clock:
    return cli_clock


def launch_offer(capsys: Capsys, offer: dict[str, Any], *more: str) -> tuple[int, str, str]:
    """`gpucm instances launch --offer ID` with more flags."""
    return run(capsys, "instances", "launch", "--offer", offer["id"], *more)


def test_spot_launch_bids_the_minimum_plus_the_margin_and_lists_as_interruptible(
    capsys: Capsys,
) -> None:
    offer = launchable(capsys, "--provider", "vast_ai", "--gpu-model", "RTX 4090")
    code, out, err = launch_offer(capsys, offer, "--spot", "--yes", "--json")
    assert code == 0, err
    instance = json.loads(out)
    assert instance["interruptible"] is True
    bid = default_bid(offer["min_bid_per_gpu_hour"])
    assert instance["price_per_hour"] == pytest.approx(bid * offer["gpu_count"])
    assert f"rental:    interruptible, bid ${bid:g}/GPU·h" in err
    assert "stops when outbid" in err
    # the price confirmed is the bid's, all-in, storage included
    price = re.search(r"price:\s+\$([0-9.]+)/h all-in", err)
    assert price is not None and float(price.group(1)) < offer["price_per_hour"]
    listed = run_json(capsys, "instances", "list")
    assert [i["interruptible"] for i in listed] == [True]
    code, out, err = run(capsys, "instances", "list")
    assert code == 0 and "(spot)" in out


def test_an_explicit_bid_and_bad_bids(capsys: Capsys) -> None:
    offer = launchable(capsys, "--provider", "runpod", "--gpu-model", "RTX 4090")
    minimum = offer["min_bid_per_gpu_hour"]
    code, _, err = launch_offer(capsys, offer, "--spot", "--bid", f"{minimum / 2:.4f}", "--yes")
    assert code == 1
    assert "below the minimum" in one_line(err)
    assert all_records() == 0
    code, _, err = launch_offer(capsys, offer, "--bid", "1")
    assert code == 2 and "add --spot" in one_line(err)
    bid = round(minimum * 1.3, 4)
    code, out, err = launch_offer(capsys, offer, "--spot", "--bid", str(bid), "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["price_per_hour"] == pytest.approx(bid * offer["gpu_count"])


def test_spot_where_the_provider_rents_none_is_one_line_exit_2(capsys: Capsys) -> None:
    offer = launchable(capsys, "--provider", "lambda_labs", "--gpu-model", "A10")
    code, out, err = launch_offer(capsys, offer, "--spot", "--yes")
    assert code == 2 and out == ""
    assert "Lambda Cloud rents no interruptible (spot) machines" in one_line(err)
    assert all_records() == 0


def _gone(monkeypatch: pytest.MonkeyPatch, offer_id: str) -> None:
    real = DemoProvider.quote

    async def quote(self: DemoProvider, offer: Offer) -> Offer | None:
        return None if offer.id == offer_id else await real(self, offer)

    monkeypatch.setattr(DemoProvider, "quote", quote)


def _launch(capsys: Capsys, offer: dict[str, Any], *more: str) -> tuple[int, str, str]:
    return launch_offer(
        capsys, offer, "--max-price-per-hour", f"{offer['price_per_hour'] * 3:.3f}", *more
    )


def test_a_gone_offer_lists_equivalents_and_failover_launches_one(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = launchable(capsys, "--gpu-model", "RTX 4090")
    _gone(monkeypatch, offer["id"])
    code, out, err = _launch(capsys, offer, "--yes")
    assert code == 1 and out == ""
    assert "the offer is gone" in err
    assert "Equivalent offers, cheapest first:" in err and "  1. " in err
    assert "the offer cannot be launched; pass --failover" in err.strip().splitlines()[-1]
    assert all_records() == 0
    code, out, err = _launch(capsys, offer, "--failover", "--yes", "--json")
    assert code == 0, err
    instance = json.loads(out)
    assert instance["offer_id"] != offer["id"] and instance["gpu_model"] == "RTX 4090"
    assert "which is gone" in err
    assert all_records() == 1


def test_failover_without_yes_still_asks_before_launching_an_equivalent(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing was confirmed yet: the equivalent is confirmed as the offer would be."""
    offer = launchable(capsys, "--gpu-model", "RTX 4090")
    _gone(monkeypatch, offer["id"])
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, _, err = _launch(capsys, offer, "--failover")
    assert code == 1 and "Launch? [y/N]" in err and "cancelled" in err
    assert all_records() == 0
    monkeypatch.setattr("sys.stdin", Terminal("1\ny\n"))
    code, out, err = _launch(capsys, offer, "--json")
    assert code == 0, err
    assert "Launch which instead?" in err and "Launch? [y/N]" in err
    assert json.loads(out)["offer_id"] != offer["id"]
    assert all_records() == 1
