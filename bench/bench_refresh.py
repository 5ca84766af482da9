"""One refresh round over the four real adapters, each answering every request after a
simulated latency (through httpx.MockTransport, from the recorded fixtures the end-to-end
fake provider serves): the round should cost about its slowest provider refreshed alone,
not the sum of the four.

The baseline is measured, not assumed: a provider may need several requests per round
(RunPod asks its catalogue per cloud and per GPU count; Vast.ai searches on-demand and
then interruptible), so "the slowest provider" is the slowest one refreshed on its own,
in rounds interleaved with the four-provider rounds."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import NOW, Target, emit
from gpucm.domain.provider_names import KEY_ENV
from gpucm.services import Services, open_services
from tests.e2e.fake_providers import FIXTURES
from tests.e2e.fake_providers import ROUTES as FAKE_ROUTES

# seconds per request, each provider's own
LATENCY = {"vast_ai": 0.30, "runpod": 0.45, "lambda_labs": 0.55, "paperspace": 0.60}
# The fake serves each provider under a path prefix of its own; the adapters here ask
# their default base URLs, whose paths are the fake's without that first segment.
ROUTES = {
    (method, "/" + path.split("/", 2)[2]): route for (method, path), route in FAKE_ROUTES.items()
}
# rounds are at least 5 s apart in use; Lambda's pacing (1 request/s) would otherwise
# hold back back-to-back rounds
PAUSE_S = 1.1


async def handler(request: httpx.Request) -> httpx.Response:
    route = ROUTES.get((request.method, request.url.path))
    if route is None:
        # RunPod's GraphQL among them: the fake has it retired, as it will be in 2027
        return httpx.Response(404, json={"error": "no such route"})
    provider, fixture = route
    if "{cloud}" in fixture:
        q = request.url.params
        fixture = fixture.format(cloud=q.get("cloud", "").lower(), count=q.get("count", ""))
    await asyncio.sleep(LATENCY[provider])
    return httpx.Response(200, content=(FIXTURES / fixture).read_bytes())


async def _open(tmp: str, providers: list[str]) -> Services:
    return await open_services(
        db=Path(tmp) / f"{'+'.join(providers)}.db",
        env={KEY_ENV[p]: "bench" for p in providers},
        config_path=Path(tmp) / "none.toml",
        transport=httpx.MockTransport(handler),
        clock=lambda: NOW,
    )


async def _round(services: Services) -> float:
    await asyncio.sleep(PAUSE_S)
    start = time.perf_counter()
    outcomes = await services.refresh()
    elapsed = time.perf_counter() - start
    failed = [o.summary() for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"bench refresh failed: {failed}")
    return elapsed


async def rounds(n: int) -> tuple[list[float], dict[str, list[float]]]:
    """n timed rounds of the four providers, and of each provider alone, interleaved
    (the first round of each, which also warms imports and caches, is not timed)."""
    names = list(LATENCY)
    with tempfile.TemporaryDirectory() as tmp:
        together = await _open(tmp, names)
        alone = {p: await _open(tmp, [p]) for p in names}
        try:
            four: list[float] = []
            each: dict[str, list[float]] = {p: [] for p in names}
            for i in range(n + 1):
                t = await _round(together)
                if i:
                    four.append(t)
                for p, services in alone.items():
                    t = await _round(services)
                    if i:
                        each[p].append(t)
            return four, each
        finally:
            for services in (together, *alone.values()):
                await services.aclose()


def bench_refresh(n: int = 5) -> None:
    four, each = asyncio.run(rounds(n))
    value = statistics.median(four) * 1000
    alone = {p: statistics.median(s) * 1000 for p, s in each.items()}
    slowest = max(alone, key=alone.__getitem__)
    emit(
        "refresh_round_4_providers",
        value,
        "ms",
        Target("ratio", "<=", 1.2),
        baseline=alone[slowest],
        ratio=value / alone[slowest],
        alone_ms={p: round(v, 1) for p, v in alone.items()},
        note="one refresh round, four real adapters answering each request after "
        f"{sorted(int(v * 1000) for v in LATENCY.values())} ms; baseline = the slowest "
        f"provider ({slowest}) refreshed alone, in rounds interleaved with these",
    )
