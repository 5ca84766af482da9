"""The issue's "done when", against a real `gpucm serve --demo`: the original Python
client example runs unchanged, the original curl requests get the original shapes, 101
requests in a minute with RATE_LIMIT_RPM=100 get a 429, and SIGTERM stops it cleanly.
The spec's examples run on both store backends: on PostgreSQL the server is given the
test's team store through DATABASE_URL, as a team's `gpucm serve` is."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gpucm.domain.catalog import Catalog
from gpucm.store.store import Store
from tests.api.live import live_server, server_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "original_client.py"


async def _instance_ids(url: str) -> set[str]:
    store = await Store.open(url, catalog=Catalog.builtin())
    try:
        return {i.id for i in await store.instances.list()}
    finally:
        await store.close()


def run_example(url: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), url],
        capture_output=True,
        text=True,
        env=server_env(home, **env),
        timeout=60,
    )


@pytest.fixture
def store_env(backend: str, store_location: Path | str) -> dict[str, str]:
    """The server's DATABASE_URL on PostgreSQL (live_server clears a developer's)."""
    return {"DATABASE_URL": str(store_location)} if backend == "postgresql" else {}


def test_the_original_client_example_runs_unchanged(
    tmp_path: Path, store_env: dict[str, str]
) -> None:
    with live_server(tmp_path, **store_env) as server:
        proc = run_example(server.url, tmp_path)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        out = proc.stdout
        assert re.search(r"Found 5 RTX 4090 offers under \$1\.00/h", out), out
        assert re.search(r"RTX 4090: 24 GB, performance score 100 \(\d+ GPU models", out), out
        assert "Market insights:" in out
        assert re.search(r"\d+ of \d+ offers available", out)
        assert "most available GPU models:" in out
        created = re.search(r"Created instance (\S+) \(1 x RTX 4090, provisioning\)", out)
        assert created, out

        # it is there, as any client sees it
        listed = httpx.get(f"{server.url}/api/v1/instances").json()
        assert [i["id"] for i in listed["data"]] == [created.group(1)]

        # the same key again: the same instance, nothing new
        again = run_example(server.url, tmp_path, IDEMPOTENCY_KEY="fixed-key")
        third = run_example(server.url, tmp_path, IDEMPOTENCY_KEY="fixed-key")
        assert again.returncode == 0 and third.returncode == 0
        first_id = re.search(r"Created instance (\S+)", again.stdout)
        second_id = re.search(r"Created instance (\S+)", third.stdout)
        assert first_id and second_id and first_id.group(1) == second_id.group(1)
        assert "nothing new was created" in third.stdout
        listed = httpx.get(f"{server.url}/api/v1/instances").json()
        assert len(listed["data"]) == 2
        status = server.stop()
    if store_env:
        # the team's store holds them: every TUI and CLI of the team sees them
        assert asyncio.run(_instance_ids(store_env["DATABASE_URL"])) == {
            i["id"] for i in listed["data"]
        }
    assert status == 0, "\n".join(server.stderr)
    assert any("Shutting down" in line for line in server.stderr)


def test_the_original_curl_requests(tmp_path: Path, store_env: dict[str, str]) -> None:
    with live_server(tmp_path, **store_env) as server, httpx.Client(base_url=server.url) as http:
        r = http.get("/api/v1/offers/search?gpu_model=RTX%204090&max_price=1.0&available=true")
        assert r.status_code == 200
        body = r.json()
        assert body["success"] is True and body["data"]
        assert {o["gpu_model"] for o in body["data"]} == {"RTX 4090"}
        r = http.post(
            "/api/v1/offers/search/advanced",
            json={
                "gpu_models": ["H100", "A100"],
                "gpu_category": "datacenter",
                "min_gpu_count": 1,
                "max_price": 10.0,
                "regions": ["US-East", "US-West"],
                "min_reliability": 0.9,
                "sort_by": "price",
                "sort_order": "asc",
            },
        )
        assert r.status_code == 200 and r.json()["data"]
        for path in ("/api/v1/gpu-models", "/api/v1/providers", "/api/v1/marketplace/stats"):
            r = http.get(path)
            assert r.status_code == 200 and set(r.json()) == {"success", "message", "data"}
        # the spec's gpu-models: an object keyed by model name
        assert http.get("/api/v1/gpu-models").json()["data"]["RTX 4090"]["performance_score"] == 100
        assert http.get("/healthz").json()["data"]["status"] == "ok"
        assert http.get("/openapi.json").json()["info"]["title"].startswith("gpucm")
        assert "gpucm_offers" in http.get("/metrics").text
        error = http.get("/api/v1/instances/vast_ai:nope")
        assert error.status_code == 404 and set(error.json()) == {"success", "error"}


@pytest.mark.sqlite_only  # the rate limit is the server's, whatever its store
def test_101_requests_in_a_minute_get_a_429(tmp_path: Path) -> None:
    with live_server(tmp_path, RATE_LIMIT_RPM="100") as server:
        with httpx.Client(base_url=server.url) as http:
            statuses = [http.get("/api/v1/gpu-models").status_code for _ in range(101)]
            limited = http.get("/api/v1/providers")
        assert statuses[:100] == [200] * 100
        assert statuses[100] == 429
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.json()["error"].startswith("rate limit exceeded: 100 requests per minute")


@pytest.mark.sqlite_only  # it never opens its store
def test_a_port_in_use_is_one_clear_line_and_status_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "gpucm.cli.serve", "--demo", "--port", str(port)],
            capture_output=True,
            text=True,
            env=server_env(tmp_path),
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"gpucm serve: cannot listen on http://127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
