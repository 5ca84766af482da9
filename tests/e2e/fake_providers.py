"""A local HTTP server that answers like the four providers, from the recorded fixtures.

Each provider lives under its own path prefix, so one server stands in for all four
base URLs. A provider can be switched to a fault ("500", "garbage", "hang", "echo-key")
between requests, to show the others keep refreshing. RunPod is served on its REST API
v2 paths only: GraphQL answers 404, as it will once RunPod retires it. Every request is
recorded (method, path, query, body).

Vast.ai also rents: `PUT /vast/api/v0/asks/{id}/` answers its recorded create, and from
then on the instance list holds the new contract too (as a bid instance when the create
carried a bid `price`), named as the create asked, so gpucm finds the machine it made.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"

ROUTES: dict[tuple[str, str], tuple[str, str]] = {
    # (method, path) -> (provider, fixture file); "{cloud}_{count}" from the query
    ("POST", "/vast/api/v0/bundles/"): ("vast_ai", "vastai/search_offers.json"),
    ("GET", "/runpod/v2/catalog/gpus"): ("runpod", "runpod/v2_catalog_gpus_{cloud}_{count}.json"),
    ("GET", "/runpod/v2/pods"): ("runpod", "runpod/v2_pods.json"),
    ("GET", "/vast/api/v1/instances/"): ("vast_ai", "vastai/instances.json"),
    ("GET", "/lambda/api/v1/instances"): ("lambda_labs", "lambda/instances.json"),
    ("GET", "/paperspace/v1/machines"): ("paperspace", "paperspace/machines.json"),
    ("GET", "/lambda/api/v1/instance-types"): ("lambda_labs", "lambda/instance_types.json"),
    ("GET", "/paperspace/v1/os-templates"): ("paperspace", "paperspace/os_templates.json"),
}
PREFIXES = {
    "vast_ai": "/vast",
    # the old GraphQL URL, as users have it set: gpucm takes the base from it
    "runpod": "/runpod/graphql",
    "lambda_labs": "/lambda/api/v1",
    "paperspace": "/paperspace/v1",
}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: bytes


VAST_ASK = "/vast/api/v0/asks/"
VAST_INSTANCES = "/vast/api/v1/instances/"


def _vast_created(body: bytes) -> dict[str, object]:
    """The instance-list row of a contract the fake's create just made: the recorded
    running bid instance, with the new contract's id, name and bid."""
    create = json.loads(body or b"{}")
    contract = json.loads((FIXTURES / "vastai/create_instance.json").read_text())
    rows = json.loads((FIXTURES / "vastai/instances_interruptible.json").read_text())
    row: dict[str, object] = dict(rows["instances"][1])
    row.update(id=contract["new_contract"], label=create.get("label"))
    row["is_bid"] = "price" in create
    return row


class _Handler(BaseHTTPRequestHandler):
    faults: ClassVar[dict[str, str]] = {}
    seen_auth: ClassVar[list[str]] = []
    seen: ClassVar[list[Seen]] = []
    vast_created: ClassVar[list[dict[str, object]]] = []

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        return

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        params = dict(urllib.parse.parse_qsl(query))
        self.seen.append(Seen(method, path, params, body))
        if method == "PUT" and path.startswith(VAST_ASK):
            self.vast_created.append(_vast_created(body))
            self._send(200, (FIXTURES / "vastai/create_instance.json").read_bytes())
            return
        if (method, path) == ("GET", VAST_INSTANCES) and self.vast_created:
            listed = json.loads((FIXTURES / "vastai/instances.json").read_text())
            listed["instances"] = [*listed["instances"], *self.vast_created]
            self._send(200, json.dumps(listed).encode())
            return
        route = ROUTES.get((method, path))
        if route is None:
            self._send(404, b'{"error": "no such route in the fake"}')
            return
        provider, fixture = route
        if "{cloud}" in fixture:
            fixture = fixture.format(
                cloud=params.get("cloud", "").lower(), count=params.get("count", "")
            )
        auth = self.headers.get("Authorization", "")
        self.seen_auth.append(auth)
        fault = self.faults.get(provider)
        if fault == "500":
            self._send(500, b'{"message": "internal error, try later"}')
        elif fault == "garbage":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        elif fault == "hang":
            time.sleep(3)
            self._send(200, b"{}")
        elif fault == "echo-key":
            body = json.dumps({"message": f"invalid key {auth}"}).encode()
            self._send(401, body)
        else:
            self._send(200, (FIXTURES / fixture).read_bytes())

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")


class FakeProviders:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self.base = f"http://{host!s}:{port}"

    def env(self, keys: dict[str, str]) -> dict[str, str]:
        """Environment for gpucm: a key and a base URL per provider."""
        return {
            "VAST_AI_API_KEY": keys["vast_ai"],
            "RUNPOD_API_KEY": keys["runpod"],
            "LAMBDA_API_KEY": keys["lambda_labs"],
            "PAPERSPACE_API_KEY": keys["paperspace"],
            "VAST_AI_API_URL": self.base + PREFIXES["vast_ai"],
            "RUNPOD_API_URL": self.base + PREFIXES["runpod"],
            "LAMBDA_API_URL": self.base + PREFIXES["lambda_labs"],
            "PAPERSPACE_API_URL": self.base + PREFIXES["paperspace"],
        }

    def fail(self, provider: str, fault: str | None) -> None:
        if fault is None:
            _Handler.faults.pop(provider, None)
        else:
            _Handler.faults[provider] = fault

    @property
    def seen_auth(self) -> list[str]:
        return _Handler.seen_auth

    @property
    def seen(self) -> list[Seen]:
        return _Handler.seen


@contextmanager
def fake_providers() -> Iterator[FakeProviders]:
    _Handler.faults = {}
    _Handler.seen_auth = []
    _Handler.seen = []
    _Handler.vast_created = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeProviders(server)
    finally:
        server.shutdown()
        server.server_close()
