"""API load: the seed's search mix at 50 concurrent clients against a real gpucm server,
and against a bare FastAPI endpoint that serves the same JSON from memory, in the same
run, taking turns; and how long /healthz waits beside the largest requests.

Each server runs in a process of its own (bench/api_server.py) on the 100,000-offer
store of the search benchmark; the clients run here, on plain keep-alive HTTP/1.1
connections (asyncio streams: a few tens of microseconds of client work per request,
the same for both servers). On 2 cores the clients and the server share the CPU.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from bench.bench_store import SEED_FILTERS, fill_store
from bench.common import Target, emit, log
from gpucm.api.routes_offers import MAX_TERMS
from gpucm.domain.models import SearchQuery

CLIENTS = 50
ROUND_SECONDS = 4.0
ROUNDS = 4  # per server, taking turns
WARMUP_SECONDS = 2.0
LISTENING = re.compile(r"listening on (\d+)")


def api_query(query: SearchQuery) -> str:
    """The GET /api/v1/offers/search query string for a seed filter (the API's own
    default page: the first 100)."""
    params: list[tuple[str, str]] = [("gpu_model", m) for m in query.gpu_models]
    params += [("region", r) for r in query.regions]
    params += [("provider", p) for p in query.providers]
    for name in (
        "gpu_category",
        "min_gpu_count",
        "min_price",
        "max_price",
        "min_ram",
        "min_reliability",
        "min_performance",
    ):
        value = getattr(query, name)
        if value is not None:
            params.append((name, str(value)))
    if query.sort_by != "price" or query.sort_order != "asc":
        params += [("sort_by", query.sort_by), ("sort_order", query.sort_order)]
    if not query.available:
        params.append(("available", "false"))
    return urlencode(params)


@dataclass
class Server:
    port: int
    process: subprocess.Popen[str]


@contextmanager
def server(kind: str, path: Path) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_URL"))}
    env["GPUCM_HOME"] = str(path.parent / f"home-{kind}")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.api_server", kind, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        port = None
        for line in process.stdout:
            match = LISTENING.search(line)
            if match:
                port = int(match.group(1))
                break
        if port is None:
            raise RuntimeError(f"the {kind} server did not start")
        yield Server(port, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        headers = await self.reader.readuntil(b"\r\n\r\n")
        status = int(headers.split(b" ", 2)[1])
        match = re.search(rb"(?i)content-length: *(\d+)", headers)
        length = int(match.group(1)) if match else 0
        payload = await self.reader.readexactly(length)
        if re.search(rb"(?i)connection: *close", headers):
            self.writer.close()
            self.writer = None
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class Load:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds


async def run_load(port: int, targets: list[str], seconds: float, *, unique: bool = False) -> Load:
    """`unique`: every request made different by a parameter the API ignores, so no
    answer can be sent again from the search cache: what building each one costs."""
    load = Load()
    stop = time.perf_counter() + seconds
    sent = itertools.count()

    async def one(n: int) -> None:
        client = Client(port)
        i = n
        try:
            while time.perf_counter() < stop:
                target = targets[i % len(targets)]
                if unique:
                    target += f"&request={next(sent)}"
                i += 1
                start = time.perf_counter()
                status, _ = await client.request("GET", target)
                if status == 200:
                    load.latencies.append(time.perf_counter() - start)
                else:
                    load.errors += 1
        finally:
            client.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(CLIENTS)))
    load.seconds = time.perf_counter() - started
    return load


def p99_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000


async def record_answers(port: int, targets: list[str]) -> dict[str, str]:
    client = Client(port)
    answers = {}
    for target in targets:
        status, body = await client.request("GET", target)
        if status != 200:
            raise RuntimeError(f"{target}: {status} {body[:200]!r}")
        answers[target.partition("?")[2]] = body.decode()
    client.close()
    return answers


async def healthz_beside(
    port: int, bodies: Callable[[], bytes] | None, seconds: float
) -> list[float]:
    """/healthz latencies, polled every 10 ms, while one other client sends a body from
    `bodies` to the advanced search again and again (None: alone)."""
    stop = time.perf_counter() + seconds
    latencies: list[float] = []

    async def poll() -> None:
        client = Client(port)
        while time.perf_counter() < stop:
            start = time.perf_counter()
            await client.request("GET", "/healthz")
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(0.01)
        client.close()

    async def heavy() -> None:
        if bodies is None:
            return
        client = Client(port)
        while time.perf_counter() < stop:
            await client.request("POST", "/api/v1/offers/search/advanced", bodies())
        client.close()

    await asyncio.gather(poll(), heavy())
    return latencies


def large_bodies() -> dict[str, Callable[[], bytes]]:
    regions = json.dumps({"regions": [f"region-{i}" for i in range(50_000)]}).encode()
    sent = itertools.count()

    def biggest() -> bytes:
        # the largest search allowed, every term new (no answer or expansion to reuse),
        # every one a model the catalog must look up
        n = next(sent)
        return json.dumps(
            {
                "gpu_models": [f"mystery-gpu-{n}-{i}" for i in range(MAX_TERMS)],
                "regions": [f"region-{n}-{i}" for i in range(MAX_TERMS)],
            }
        ).encode()

    return {"50k_regions": lambda: regions, "max_terms": biggest}


def bench_api() -> None:
    targets = [f"/api/v1/offers/search?{api_query(q)}" for q in SEED_FILTERS.values()]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "api.db"
        log(f"api: {asyncio.run(fill_store(db))} offers in the store")
        with server("gpucm", db) as ours:
            answers = asyncio.run(record_answers(ours.port, targets))
            sizes = sorted(len(a) for a in answers.values())
            log(f"api: the search mix answers {sizes[0]}-{sizes[-1]} bytes")
            (Path(tmp) / "answers.json").write_text(json.dumps(answers))
            with server("bare", Path(tmp) / "answers.json") as bare:
                for port in (ours.port, bare.port):
                    asyncio.run(run_load(port, targets, WARMUP_SECONDS))
                loads: dict[str, list[Load]] = {"gpucm": [], "bare": []}
                for _ in range(ROUNDS):  # taking turns, so machine noise hits both alike
                    loads["gpucm"].append(asyncio.run(run_load(ours.port, targets, ROUND_SECONDS)))
                    loads["bare"].append(asyncio.run(run_load(bare.port, targets, ROUND_SECONDS)))
            loads["uncached"] = [
                asyncio.run(run_load(ours.port, targets, ROUND_SECONDS, unique=True))
            ]
            healthz = {"alone": asyncio.run(healthz_beside(ours.port, None, 3.0))}
            for name, body in large_bodies().items():
                healthz[name] = asyncio.run(healthz_beside(ours.port, body, 3.0))
    report(loads, healthz)


def report(loads: dict[str, list[Load]], healthz: dict[str, list[float]]) -> None:
    ours, bare = loads["gpucm"], loads["bare"]
    errors = sum(r.errors for r in ours)
    rps = statistics.median(r.throughput for r in ours)
    bare_rps = statistics.median(r.throughput for r in bare)
    p99 = p99_ms([s for r in ours for s in r.latencies])
    bare_p99 = p99_ms([s for r in bare for s in r.latencies])
    (uncached,) = loads["uncached"]
    every_answer_built = {
        "uncached_rps": round(uncached.throughput, 1),
        "uncached_p99_ms": round(p99_ms(uncached.latencies), 1),
    }
    note = (
        f"{CLIENTS} keep-alive clients, the {len(SEED_FILTERS)} seed filters as GET "
        f"/api/v1/offers/search (first 100 of 100,000 offers), {ROUNDS} rounds of "
        f"{ROUND_SECONDS:g} s each, taking turns with the bare endpoint"
    )
    emit(
        "api_load_search_mix_p99",
        p99,
        "ms",
        Target("value", "<=", 250, "ms"),
        baseline=bare_p99,
        ratio=p99 / bare_p99,
        requests=sum(len(r.latencies) for r in ours),
        errors=errors,
        **every_answer_built,
        note=note + "; baseline = the bare endpoint's p99; uncached_* = one more round with "
        "every request unique (nothing sent again from the search cache)",
    )
    emit(
        "api_load_search_mix_throughput",
        rps,
        "req/s",
        Target("ratio", ">=", 0.5),
        baseline=bare_rps,
        ratio=rps / bare_rps,
        rounds=[round(r.throughput, 1) for r in ours],
        baseline_rounds=[round(r.throughput, 1) for r in bare],
        **every_answer_built,
        note=note + "; ratio = gpucm / bare FastAPI serving the same JSON from memory",
    )
    alone = max(healthz["alone"]) * 1000
    for name in ("50k_regions", "max_terms"):
        worst = max(healthz[name]) * 1000
        emit(
            f"api_healthz_beside_{name}",
            worst,
            "ms",
            Target("value", "<=", 100, "ms"),
            baseline=alone,
            ratio=worst / alone,
            polls=len(healthz[name]),
            note="the slowest /healthz while another client sends "
            + (
                "50,000 regions (600 KB) to the advanced search again and again"
                if name == "50k_regions"
                else f"the largest search allowed ({MAX_TERMS} unknown GPU models and "
                f"{MAX_TERMS} regions) again and again"
            )
            + "; baseline = the slowest /healthz alone",
        )
