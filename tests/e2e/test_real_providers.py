"""The provider issue's "done when", end to end: real adapters over real HTTP (a local
server answering with the providers' recorded shapes), the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fake_providers import FakeProviders, fake_providers

KEYS = {
    "vast_ai": "vk-SECRET-vast-0123456789",
    "runpod": "rp-SECRET-runpod-0123456789",
    "lambda_labs": "ll-SECRET-lambda-0123456789",
    "paperspace": "ps-SECRET-paper-0123456789",
}


@pytest.fixture
def fake() -> Iterator[FakeProviders]:
    with fake_providers() as server:
        yield server


def gpucm(fake: FakeProviders, home: Path, *args: str, timeout: float = 60) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_URL"))}
    env.update(fake.env(KEYS))
    env["GPUCM_HOME"] = str(home)
    env["GPUCM_HTTP_TIMEOUT"] = "0.5"
    proc = subprocess.run(
        [sys.executable, "-m", "gpucm", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return proc


def offers_by_provider(fake: FakeProviders, home: Path) -> dict[str, list[dict[str, Any]]]:
    proc = gpucm(fake, home, "offers", "--all", "--json")
    assert proc.returncode == 0, proc.stderr
    grouped: dict[str, list[dict[str, Any]]] = {}
    for offer in json.loads(proc.stdout):
        grouped.setdefault(offer["provider"], []).append(offer)
    return grouped


def test_refresh_then_offers_from_all_four(fake: FakeProviders, tmp_path: Path) -> None:
    proc = gpucm(fake, tmp_path, "refresh")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 4 and all("FAILED" not in line for line in lines), proc.stdout
    assert "DEMO" not in proc.stderr

    grouped = offers_by_provider(fake, tmp_path)
    assert set(grouped) == {"vast_ai", "runpod", "lambda_labs", "paperspace"}

    vast = {o["provider_id"]: o for o in grouped["vast_ai"]}
    first = vast["24871034"]  # the first row of search_offers.json
    assert (first["gpu_model"], first["gpu_count"], first["region"]) == (
        "RTX 4090",
        1,
        "Texas, US",
    )
    assert first["price_per_hour"] == pytest.approx(0.40208333333333335)

    runpod = {o["provider_id"]: o for o in grouped["runpod"]}
    community = runpod["rtx-4090-community-2@US-CA-2"]
    assert community["gpu_model"] == "RTX 4090"
    assert community["price_per_hour"] == pytest.approx(0.62)  # 2 x $0.31 per GPU

    lam = grouped["lambda_labs"]
    h100 = [o for o in lam if o["provider_id"].startswith("gpu_1x_h100_sxm5@")]
    assert h100, [o["provider_id"] for o in lam]
    assert h100[0]["gpu_model"] == "H100" and h100[0]["gpu_count"] == 1
    assert h100[0]["region"] == h100[0]["provider_id"].split("@")[1]

    paper = {o["provider_id"]: o for o in grouped["paperspace"]}
    a4000 = next(o for pid, o in paper.items() if pid.startswith("A4000@"))
    assert a4000["gpu_model"] == "RTX A4000" and a4000["gpu_count"] == 1

    proc = gpucm(fake, tmp_path, "providers", "--json")
    health = {p["name"]: p["health"] for p in json.loads(proc.stdout)}
    assert all(h["status"] == "ok" and h["offer_count"] > 0 for h in health.values()), health
    assert all(p["is_configured"] for p in json.loads(proc.stdout))


@pytest.mark.parametrize("fault", ["500", "garbage", "hang"])
def test_a_broken_provider_keeps_its_last_good_offers(
    fake: FakeProviders, tmp_path: Path, fault: str
) -> None:
    assert gpucm(fake, tmp_path, "refresh").returncode == 0
    before = {o["id"] for o in offers_by_provider(fake, tmp_path)["vast_ai"]}

    fake.fail("vast_ai", fault)
    proc = gpucm(fake, tmp_path, "refresh")
    assert proc.returncode == 0, "the other three still refreshed"
    vast_line = next(line for line in proc.stdout.splitlines() if line.startswith("Vast.ai"))
    assert "FAILED" in vast_line
    assert sum("FAILED" in line for line in proc.stdout.splitlines()) == 1

    grouped = offers_by_provider(fake, tmp_path)
    kept = grouped["vast_ai"]
    assert {o["id"] for o in kept} == before
    assert all(o["stale"] for o in kept)
    assert not any(o["stale"] for p in ("runpod", "lambda_labs") for o in grouped[p])

    health = {
        p["name"]: p["health"]
        for p in json.loads(gpucm(fake, tmp_path, "providers", "--json").stdout)
    }
    assert health["vast_ai"]["status"] == "failing"
    assert health["vast_ai"]["last_error"]


def test_every_provider_down_is_a_failing_exit(fake: FakeProviders, tmp_path: Path) -> None:
    for provider in KEYS:
        fake.fail(provider, "500")
    proc = gpucm(fake, tmp_path, "refresh")
    assert proc.returncode == 1
    assert proc.stdout.count("FAILED") == 4


def test_keys_never_leak(fake: FakeProviders, tmp_path: Path) -> None:
    """Providers that echo the key back in their errors: the key must not reach the
    output, the logs or the database."""
    for provider in KEYS:
        fake.fail(provider, "echo-key")
    proc = gpucm(fake, tmp_path, "refresh")
    assert any(KEYS["vast_ai"] in auth for auth in fake.seen_auth), "keys were sent"
    shown = proc.stdout + proc.stderr
    proc2 = gpucm(fake, tmp_path, "providers", "--json")
    shown += proc2.stdout + proc2.stderr
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for key in KEYS.values():
        assert key not in shown
        assert key.encode() not in stored
    assert "rejected" in proc.stdout  # the error is still explained


def test_runpod_on_a_server_with_only_the_v2_paths(fake: FakeProviders, tmp_path: Path) -> None:
    """Issue 13's "done when": RUNPOD_API_URL at a server that serves only REST v2 (its
    GraphQL answers 404): the refresh lists offers whose stock differs per cloud, the
    instance list shows the pods with normalised statuses and SSH endpoints, and no
    GraphQL request is sent for offers or pods (the one GraphQL request is the spot-price
    query, answered 404: RunPod spot prices stop, nothing else does)."""
    proc = gpucm(fake, tmp_path, "refresh")
    assert proc.returncode == 0, proc.stderr
    runpod_line = next(line for line in proc.stdout.splitlines() if line.startswith("RunPod"))
    assert "FAILED" not in runpod_line, runpod_line

    runpod = {o["provider_id"]: o for o in offers_by_provider(fake, tmp_path)["runpod"]}
    secure, community = runpod["rtx-4090-secure-1@US-KS-2"], runpod["rtx-4090-community-1@US-CA-2"]
    assert (secure["availability"], secure["price_per_hour"]) == ("high", 0.44)
    assert (community["availability"], community["price_per_hour"]) == ("medium", 0.31)
    assert runpod["rtx-4090-community-1@EU-SE-1"]["available"] is False
    assert runpod["h100-sxm-community-1"]["availability"] == "none"  # that cloud sold out
    assert runpod["h100-sxm-secure-1@EUR-IS-1"]["availability"] == "high"
    assert all(o["spot_price_per_hour"] is None for o in runpod.values())  # GraphQL gone
    # the confirmed-stock filter hides Paperspace's unknown availability, not RunPod's
    confirmed = gpucm(fake, tmp_path, "offers", "--min-availability", "low", "--json")
    assert confirmed.returncode == 0, confirmed.stderr
    shown = {o["provider"] for o in json.loads(confirmed.stdout)}
    assert "runpod" in shown and "paperspace" not in shown

    proc = gpucm(fake, tmp_path, "instances", "list", "--all", "--json")
    assert proc.returncode == 0, proc.stderr
    pods = {i["provider_id"]: i for i in json.loads(proc.stdout) if i["provider"] == "runpod"}
    assert {p: pods[p]["status"] for p in pods} == {
        "7h9k2m4n6p": "running",
        "3k8m1q7w2e": "provisioning",
        "9c2v7b4n1m": "provisioning",
        "5t6y7u8i9o": "stopped",
        "1a2s3d4f5g": "error",
        "0p9o8i7u6y": "terminated",
    }
    running = pods["7h9k2m4n6p"]
    assert (running["ssh_host"], running["ssh_port"], running["ssh_user"]) == (
        "195.26.233.3",
        34446,
        "root",
    )
    assert pods["3k8m1q7w2e"]["ssh_host"] == "ssh.runpod.io"  # the proxy until 22/tcp is up
    assert pods["9c2v7b4n1m"]["interruptible"] is True

    runpod_requests = [r for r in fake.seen if r.path.startswith("/runpod/")]
    graphql = [r for r in runpod_requests if r.path == "/runpod/graphql"]
    assert all(b"SpotPrices" in r.body and b"pods" not in r.body for r in graphql), graphql
    assert len(graphql) == 1  # the refresh asked once; after its 404, nothing more
    rest = {(r.method, r.path) for r in runpod_requests if r not in graphql}
    assert rest == {("GET", "/runpod/v2/catalog/gpus"), ("GET", "/runpod/v2/pods")}
    clouds = {r.query["cloud"] for r in runpod_requests if r.path.endswith("/catalog/gpus")}
    assert clouds == {"SECURE", "COMMUNITY"}


def test_a_vast_spot_launch_sends_the_bid_and_lists_as_interruptible(
    fake: FakeProviders, tmp_path: Path
) -> None:
    """Issue 13's "done when": `gpucm instances launch --offer vast_ai:ID --spot --bid X
    --yes` sends a Vast create carrying the bid (`price`, for the whole machine: the bid
    x GPUs), and the instance shows as interruptible in `instances list`."""
    proc = gpucm(fake, tmp_path, "refresh")
    assert proc.returncode == 0, proc.stderr
    vast = {o["id"]: o for o in offers_by_provider(fake, tmp_path)["vast_ai"]}
    offer = next(o for o in vast.values() if o["gpu_count"] > 1 and o["min_bid_per_gpu_hour"])
    bid = round(offer["min_bid_per_gpu_hour"] * 1.25, 4)
    proc = gpucm(
        fake,
        tmp_path,
        "instances",
        "launch",
        "--offer",
        offer["id"],
        "--spot",
        "--bid",
        str(bid),
        "--yes",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    assert "interruptible, bid" in proc.stderr
    (create,) = [r for r in fake.seen if r.method == "PUT"]
    assert create.path == f"/vast/api/v0/asks/{offer['provider_id']}/"
    body = json.loads(create.body)
    assert body["price"] == pytest.approx(bid * offer["gpu_count"])
    launched = json.loads(proc.stdout)
    assert launched["interruptible"] is True

    proc = gpucm(fake, tmp_path, "instances", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = {i["id"]: i for i in json.loads(proc.stdout)}
    assert listed[launched["id"]]["interruptible"] is True
    assert listed[launched["id"]]["request_id"] == launched["request_id"]
    table = gpucm(fake, tmp_path, "instances", "list")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if launched["id"] in line)
    assert "running (spot)" in row
