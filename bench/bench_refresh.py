"""One refresh round over the four real adapters, each answering after a simulated
latency (through httpx.MockTransport, from the recorded fixtures): the round should
cost about the slowest provider, not the sum."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import NOW, Target, emit
from gpucm.services import open_services

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "providers"
LATENCY = {"vast": 0.30, "runpod": 0.45, "lambda": 0.55, "paperspace": 0.60}  # seconds
ROUTES = {
    "/api/v0/bundles/": ("vast", "vastai/search_offers.json"),
    "/graphql": ("runpod", "runpod/gpu_types.json"),
    "/api/v1/instance-types": ("lambda", "lambda/instance_types.json"),
    "/v1/os-templates": ("paperspace", "paperspace/os_templates.json"),
}
ENV = {
    "VAST_AI_API_KEY": "bench",
    "RUNPOD_API_KEY": "bench",
    "LAMBDA_API_KEY": "bench",
    "PAPERSPACE_API_KEY": "bench",
}


async def handler(request: httpx.Request) -> httpx.Response:
    for suffix, (name, fixture) in ROUTES.items():
        if request.url.path.endswith(suffix):
            await asyncio.sleep(LATENCY[name])
            return httpx.Response(200, content=(FIXTURES / fixture).read_bytes())
    return httpx.Response(404)


async def rounds(n: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        services = await open_services(
            db=Path(tmp) / "bench.db",
            env=ENV,
            config_path=Path(tmp) / "none.toml",
            transport=httpx.MockTransport(handler),
            clock=lambda: NOW,
        )
        try:
            samples = []
            for _ in range(n):
                # rounds are at least 5 s apart in use; Lambda's pacing (1 request/s)
                # would otherwise hold back back-to-back rounds
                await asyncio.sleep(1.1)
                start = time.perf_counter()
                outcomes = await services.refresh()
                samples.append(time.perf_counter() - start)
                failed = [o.summary() for o in outcomes if not o.ok]
                if failed:
                    raise RuntimeError(f"bench refresh failed: {failed}")
            return samples
        finally:
            await services.aclose()


def bench_refresh(n: int = 5) -> None:
    samples = asyncio.run(rounds(n + 1))[1:]  # the first round also warms imports and caches
    value = statistics.median(samples) * 1000
    slowest = max(LATENCY.values()) * 1000
    emit(
        "refresh_round_4_providers",
        value,
        "ms",
        Target("ratio", "<=", 1.2),
        baseline=slowest,
        ratio=value / slowest,
        note="one refresh round, four real adapters with simulated latencies "
        f"{sorted(int(v * 1000) for v in LATENCY.values())} ms; baseline = the slowest",
    )
