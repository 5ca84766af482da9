"""Fault injection per adapter, end to end through Services and the Refresher.

For each of the four adapters and each fault in `harness.FAULTS`, three refresh rounds
run over all four providers: a good one, one where only that adapter's answers are
faulty, and a good one again. Throughout:

- nothing escapes the refresh round;
- the other three providers refresh normally and their offers are never stale;
- the faulty provider's last good offers stay in the store and read back stale;
- its health row and the refresh line say which provider failed and what kind of
  failure it was, in words a person can act on;
- retries follow the policy (Retry-After honoured, never retried past it);
- the fake API keys (echoed back in every textual fault body) never reach an error,
  the health rows, the log or the database file;
- the next good round makes the provider fresh again.

Retry and pacing delays are recorded, not slept; timeouts are real but short
(GPUCM_HTTP_TIMEOUT=0.25 s, so a total of 0.75 s per attempt).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gpucm.domain.models import Offer, ProviderHealth, SearchQuery
from gpucm.domain.provider_names import DISPLAY_NAMES, PROVIDERS
from gpucm.engine.refresher import RefreshOutcome
from gpucm.providers.adapter import HttpAdapter
from gpucm.services import Services, open_services
from tests.conftest import FIXED_NOW
from tests.faults.bad_server import bad_server
from tests.faults.harness import (
    BIG_BODY,
    FAULTS,
    KEY_ENV,
    KEYS,
    RETRIED,
    ROUND_REQUESTS,
    STATS,
    Fault,
    FaultyTransport,
)

HTTP_TIMEOUT = 0.25
# Everything that could carry a key, at DEBUG (aiosqlite's per-statement lines are left out)
LOGGERS = ("gpucm", "httpx", "httpcore")


class Ticker:
    """A clock the test moves on between rounds."""

    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self) -> None:
        self.now += timedelta(minutes=1)


class Sleeps(list[float]):
    """Records the delays it is asked to sleep and returns at once."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


async def _no_sleep(delay: float) -> None:
    return None


@dataclass
class Rig:
    services: Services
    transport: FaultyTransport
    clock: Ticker
    sleeps: dict[str, Sleeps]
    home: Path

    async def round(self) -> dict[str, RefreshOutcome]:
        self.clock.advance()
        outcomes = await self.services.refresh()
        return {o.provider: o for o in outcomes}

    async def offers(self) -> dict[str, dict[str, Offer]]:
        page = await self.services.store.search(SearchQuery(available=False))
        grouped: dict[str, dict[str, Offer]] = {name: {} for name in PROVIDERS}
        for offer in page.offers:
            grouped[offer.provider][offer.id] = offer
        return grouped

    async def health(self) -> dict[str, ProviderHealth]:
        return await self.services.store.health()


def record_sleeps(services: Services) -> dict[str, Sleeps]:
    """Retry delays go to a recorder per provider; pacing waits are skipped."""
    recorded: dict[str, Sleeps] = {}
    for source in services.sources():
        assert isinstance(source, HttpAdapter), source
        sleeps = Sleeps()
        source.http._sleep = sleeps
        for pacer in (source.http._pacer, source.http._launch_pacer):
            if pacer is not None:
                pacer._sleep = _no_sleep
        recorded[source.name] = sleeps
    return recorded


def capture_logs(caplog: pytest.LogCaptureFixture) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    with bad_server() as bad:
        transport = FaultyTransport(bad)
        env = {KEY_ENV[name]: KEYS[name] for name in PROVIDERS}
        env["GPUCM_HTTP_TIMEOUT"] = str(HTTP_TIMEOUT)
        clock = Ticker()
        services = await open_services(
            db=tmp_path / "store" / "gpucm.db",
            demo=False,
            clock=clock,
            env=env,
            transport=transport,
        )
        try:
            assert not services.demo and services.provider_names() == list(PROVIDERS)
            yield Rig(services, transport, clock, record_sleeps(services), tmp_path)
        finally:
            await services.aclose()
            await transport.close_sockets()


def assert_all_fresh(
    outcomes: dict[str, RefreshOutcome], offers: dict[str, dict[str, Offer]]
) -> None:
    for name in PROVIDERS:
        assert outcomes[name].ok, outcomes[name].summary()
        assert offers[name], f"{name} has no offers"
        assert not any(o.stale for o in offers[name].values()), name


def assert_no_secret_anywhere(rig: Rig, texts: list[str]) -> None:
    stored = b"".join(p.read_bytes() for p in rig.home.rglob("*") if p.is_file())
    for name, key in KEYS.items():
        for text in texts:
            assert key not in text, f"{name}'s key leaked into: {text[:300]}"
        assert key.encode() not in stored, f"{name}'s key reached a file under {rig.home}"


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_one_faulty_provider_keeps_the_rest_refreshing(
    rig: Rig, provider: str, fault: Fault, caplog: pytest.LogCaptureFixture
) -> None:
    capture_logs(caplog)
    display = DISPLAY_NAMES[provider]

    # 1. a good round: every provider has offers
    first = await rig.round()
    good = await rig.offers()
    assert_all_fresh(first, good)
    assert rig.transport.problems == []
    good_at = rig.clock()

    # 2. only `provider` misbehaves
    if fault.socket is not None:
        rig.transport.bad.misbehave(fault.socket)
    rig.transport.faults[provider] = fault
    rig.transport.requests.clear()
    STATS["injected: one adapter x one fault (matrix)"] += 1
    started = time.monotonic()
    second = await rig.round()  # raises nothing: that is the first assertion
    elapsed = time.monotonic() - started
    assert rig.transport.problems == []

    failed = second[provider]
    assert not failed.ok and not failed.skipped
    assert failed.error_kind == fault.kind, failed.summary()
    summary = failed.summary()
    assert summary.startswith(f"{display}: FAILED: "), summary
    assert "\n" not in summary
    for words in fault.says:
        assert words.lower() in (failed.error or "").lower(), summary
    assert "Traceback" not in summary and "unexpected error" not in summary

    for other in PROVIDERS:
        if other != provider:
            assert second[other].ok, second[other].summary()
            assert second[other].offers == first[other].offers

    after = await rig.offers()
    assert after[provider].keys() == good[provider].keys(), "the last good offers stay"
    assert all(o.stale for o in after[provider].values())
    assert {o.id: o.price_per_hour for o in after[provider].values()} == {
        o.id: o.price_per_hour for o in good[provider].values()
    }
    for other in PROVIDERS:
        if other != provider:
            assert after[other].keys() == good[other].keys()
            assert not any(o.stale for o in after[other].values()), other

    health = (await rig.health())[provider]
    assert health.provider == provider
    assert health.status == "failing"
    assert health.consecutive_failures == 1
    assert health.last_error == failed.error
    assert health.last_error_kind == fault.kind
    assert health.last_success_at == good_at

    # retries as the policy says, and no more
    assert rig.transport.requests[provider] == fault.attempts
    sleeps = rig.sleeps[provider]
    assert len(sleeps) == fault.attempts - 1, sleeps
    if fault.retry_after is not None:
        assert all(s >= fault.retry_after for s in sleeps), sleeps
    elif fault.attempts == RETRIED:
        assert sleeps == sorted(sleeps) and all(0 < s < 5 for s in sleeps), sleeps
    for other in PROVIDERS:
        if other != provider:
            assert rig.transport.requests[other] == ROUND_REQUESTS[other]
            assert rig.sleeps[other] == []
    # the short timeouts were in force: no fault held the round up for long
    assert elapsed < 5, f"the faulty round took {elapsed:.1f} s"
    if fault.name.startswith("body_50mb"):
        # cut off at the limit (32 MB), never read to the end (or at all, if declared)
        read = sum(rig.transport.produced)
        assert read < BIG_BODY, read
        if fault.name == "body_50mb_declared":
            assert read == 0

    # 3. the provider answers again: fresh, and nothing is stale any more
    rig.transport.faults.clear()
    third = await rig.round()
    assert_all_fresh(third, await rig.offers())
    recovered = (await rig.health())[provider]
    assert recovered.status == "ok" and recovered.consecutive_failures == 0

    texts = [o.summary() for o in (*first.values(), *second.values(), *third.values())]
    texts += [h.model_dump_json() for h in (await rig.health()).values()]
    texts.append(caplog.text)
    assert_no_secret_anywhere(rig, texts)


async def test_every_provider_faulty_at_once_still_returns_a_round(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Four different faults in one round: four failures, four stale snapshots."""
    capture_logs(caplog)
    await rig.round()
    good = await rig.offers()
    chosen = {
        name: fault
        for name, fault in zip(
            PROVIDERS,
            [f for f in FAULTS if f.name in ("hang", "html_503", "null_fields", "malformed_json")],
            strict=True,
        )
    }
    rig.transport.faults.update(chosen)
    STATS["injected: four faulty adapters in one round"] += len(chosen)
    outcomes = await rig.round()
    for name, fault in chosen.items():
        assert not outcomes[name].ok
        assert outcomes[name].error_kind == fault.kind, outcomes[name].summary()
        assert outcomes[name].summary().startswith(f"{DISPLAY_NAMES[name]}: FAILED: ")
    after = await rig.offers()
    for name in PROVIDERS:
        assert after[name].keys() == good[name].keys()
        assert all(o.stale for o in after[name].values())
    texts = [o.summary() for o in outcomes.values()] + [caplog.text]
    assert_no_secret_anywhere(rig, texts)


async def test_a_provider_failing_round_after_round_opens_its_circuit(rig: Rig) -> None:
    """Repeated faults: the offers stay stale through every failure, the breaker trips
    after five, and a skipped round still says why."""
    await rig.round()
    good = await rig.offers()
    fault = next(f for f in FAULTS if f.name == "http_500")
    rig.transport.faults["runpod"] = fault
    threshold = rig.services.refresher.policy.circuit_threshold
    for failures in range(1, threshold + 1):
        outcomes = await rig.round()
        STATS["injected: one adapter failing until its circuit opens"] += 1
        assert not outcomes["runpod"].ok and not outcomes["runpod"].skipped
        health = (await rig.health())["runpod"]
        assert health.consecutive_failures == failures
        assert all(o.ok for n, o in outcomes.items() if n != "runpod")
    assert health.status == "circuit_open"
    # the scheduler's next round (not forced) skips RunPod, and says why
    outcomes = {
        o.provider: o
        for o in await rig.services.refresher.refresh_all(rig.services.sources(), force=False)
    }
    assert outcomes["runpod"].skipped
    assert "circuit open" in outcomes["runpod"].summary()
    assert "HTTP 500" in outcomes["runpod"].summary()
    after = await rig.offers()
    assert after["runpod"].keys() == good["runpod"].keys()
    assert all(o.stale for o in after["runpod"].values())
