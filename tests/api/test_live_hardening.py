"""Issue 14's API cases against a real `gpucm serve --demo`, over real HTTP: what another
site's page can send, a lone surrogate on a kept-alive connection, and one very large
request beside small ones. (How long /healthz waits beside it is a benchmark line,
`api_healthz_beside_large_search`, not a timed test.)"""

from __future__ import annotations

import http.client
import json
import shlex
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.api.live import live_server, server_env

EVIL = "https://evil.example.com"


def connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)


def test_another_sites_page_can_neither_launch_nor_stop(tmp_path: Path) -> None:
    with live_server(tmp_path) as server, httpx.Client(base_url=server.url) as http_:
        offer = http_.get("/api/v1/offers/search", params={"limit": 1}).json()["data"][0]
        body = {"provider": offer["provider"], "offer_id": offer["id"], "image": "x/y"}
        # DNS rebinding: the page's own name, resolved to 127.0.0.1, as the Host
        rebound = http_.post("/api/v1/instances", json=body, headers={"Host": "evil.example.com"})
        assert rebound.status_code == 400
        assert http_.get("/api/v1/instances").json()["data"] == []
        created = http_.post("/api/v1/instances", json=body)
        assert created.status_code == 201
        iid = created.json()["data"]["id"]
        # a body-less cross-site POST as a form would send it (no preflight)
        stop = http_.post(
            f"/api/v1/instances/{iid}/stop",
            headers={"Origin": EVIL, "Content-Type": "text/plain"},
        )
        assert stop.status_code == 403
        # and without an Origin (an old browser, a tool): the type alone refuses it
        stop = http_.post(f"/api/v1/instances/{iid}/stop", headers={"Content-Type": "text/plain"})
        assert stop.status_code == 415
        assert http_.get(f"/api/v1/instances/{iid}").json()["data"]["status"] == "provisioning"
        again = http_.post(
            "/api/v1/instances", json=body, headers={"Origin": EVIL, "Idempotency-Key": "x"}
        )
        assert again.status_code == 403
        assert len(http_.get("/api/v1/instances").json()["data"]) == 1


def test_a_lone_surrogate_is_a_422_and_the_connection_stays_open(tmp_path: Path) -> None:
    with live_server(tmp_path) as server:
        conn = connection(server.url)
        try:
            conn.request(
                "POST",
                "/api/v1/offers/search/advanced",
                body=b'{"gpu_model": "\\ud800"}',
                headers={"Content-Type": "application/json"},
            )
            r = conn.getresponse()
            body = json.loads(r.read())
            assert r.status == 422
            assert body["error"].startswith("invalid request: body.gpu_model: not valid text")
            assert r.getheader("Connection") != "close"
            conn.request("GET", "/healthz")  # the same connection, kept alive
            again = conn.getresponse()
            assert again.status == 200 and json.loads(again.read())["success"] is True
        finally:
            conn.close()
    assert not any("Traceback" in line for line in server.stderr), "\n".join(server.stderr)


def test_a_50000_region_request_beside_small_ones(tmp_path: Path) -> None:
    with live_server(tmp_path, RATE_LIMIT_ENABLED="false") as server:
        body = json.dumps({"regions": [f"region-{i}" for i in range(50_000)]}).encode()
        assert len(body) < 1024 * 1024  # under the body cap: the list bound answers
        answer: list[httpx.Response] = []
        big = threading.Thread(
            target=lambda: answer.append(
                httpx.post(
                    f"{server.url}/api/v1/offers/search/advanced",
                    content=body,
                    headers={"Content-Type": "application/json"},
                    timeout=60,
                )
            )
        )
        big.start()
        with httpx.Client(base_url=server.url) as http_:
            health = [http_.get("/healthz").status_code for _ in range(5)]
        big.join(60)
        assert health == [200] * 5
        assert answer and answer[0].status_code == 422
        assert "at most 2000 values, not 50000" in answer[0].json()["error"]


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_curl_commands() -> list[str]:
    """The README's curl examples, one command per entry (continuation lines joined)."""
    text = README.read_text()
    block = next(
        b.split("\n", 1)[1]
        for b in text.split("```")[1::2]
        if b.startswith("sh") and "curl -X POST http://127.0.0.1:8080/api/v1/instances" in b
    )
    commands: list[str] = []
    pending = ""
    for line in block.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending)
        except ValueError:  # a quote still open: the command goes on
            continue
        if pending.endswith("\\"):
            continue
        if pending.startswith("curl"):
            commands.append(pending)
        pending = ""
    return commands


def test_the_readmes_curl_examples_run_as_written(tmp_path: Path) -> None:
    """With curl itself: the content types the site guard wants are in the examples."""
    commands = readme_curl_commands()
    assert len(commands) == 7
    with live_server(tmp_path) as server:
        instance = ""
        for command in commands:
            command = command.replace("http://127.0.0.1:8080", server.url)
            proc = subprocess.run(
                ["bash", "-c", command + " -s -w '\\n%{http_code}'"],
                capture_output=True,
                text=True,
                env={**server_env(tmp_path), "ID": instance},
                timeout=60,
            )
            body, _, status = proc.stdout.rpartition("\n")
            assert status.startswith("2"), (command, status, body)
            data = json.loads(body)["data"]
            if isinstance(data, dict) and "offer_id" in data:  # the create's answer
                instance = instance or data["id"]
            if command.endswith("/gpu-models"):
                assert data["RTX 4090"]["performance_score"] == 100
        assert instance
