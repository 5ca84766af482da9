"""The refresher: one provider's fetch -> normalise -> snapshot -> health, and what a
failing provider does to the others (nothing), to its last good offers (kept, marked
stale) and to its schedule (backoff, then a circuit breaker)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import Offer, ProviderHealth, SearchQuery, offer_id
from gpucm.engine.refresher import BackoffPolicy, Refresher, RefreshOutcome
from gpucm.providers.base import OfferSource
from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from gpucm.store.store import Store
from tests.conftest import FIXED_NOW
from tests.offer_factory import make_offer

SECRET = "sk-live-SECRET-99"

# --- fakes ---------------------------------------------------------------------------

Result = list[Offer] | BaseException | asyncio.Event


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class FakeSource:
    """An offer source answering from a queue: a list of offers is returned, an exception
    raised, an Event waited on (then the next entry answers). The last entry repeats."""

    def __init__(self, name: str, *results: Result, delay: float = 0.0) -> None:
        self._name = name
        self._results: deque[Result] = deque(results)
        self.delay = delay
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self.finished = 0
        self.started = asyncio.Event()

    @property
    def name(self) -> str:
        return self._name

    @property
    def is_demo(self) -> bool:
        return False

    def _next(self) -> Result:
        return self._results.popleft() if len(self._results) > 1 else self._results[0]

    async def fetch_offers(self) -> list[Offer]:
        self.calls += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.started.set()
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            result = self._next()
            while isinstance(result, asyncio.Event):
                await result.wait()
                result = self._next()
            if isinstance(result, BaseException):
                raise result
            return list(result)
        finally:
            self.active -= 1
            self.finished += 1

    async def aclose(self) -> None:
        pass


def raw_offer(
    provider: str = "vast_ai",
    provider_id: str = "1",
    gpu_name: str = "NVIDIA GeForce RTX 4090",
    price: float = 0.5,
) -> Offer:
    """An offer as an adapter hands it over: raw GPU name, canonical fields empty."""
    return Offer(
        id=offer_id(provider, provider_id),
        provider=provider,
        provider_id=provider_id,
        gpu_name=gpu_name,
        gpu_count=1,
        price_per_hour=price,
        region="Texas, US",
        fetched_at=FIXED_NOW,
    )


def provider_offers(provider: str, price: float) -> list[Offer]:
    return [
        raw_offer(provider, "1", "NVIDIA GeForce RTX 4090", price),
        raw_offer(provider, "2", "NVIDIA H100 80GB HBM3", price * 4),
    ]


GOOD = [
    raw_offer(provider_id="1", gpu_name="NVIDIA GeForce RTX 4090", price=0.5),
    raw_offer(provider_id="2", gpu_name="NVIDIA A100-SXM4-80GB", price=1.5),
]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(db_path: Path, fake_clock: FakeClock) -> AsyncIterator[Store]:
    store = await Store.open(db_path, clock=fake_clock)
    try:
        yield store
    finally:
        await store.close()


def make_refresher(store: Store, clock: FakeClock, **kwargs: Any) -> Refresher:
    kwargs.setdefault("interval", lambda _name: 60.0)
    return Refresher(store, Catalog.builtin, clock, **kwargs)


async def offers_of(store: Store, provider: str) -> dict[str, Offer]:
    page = await store.search(SearchQuery(available=False, providers=(provider,)))
    return {o.id: o for o in page.offers}


async def health_of(store: Store, provider: str) -> ProviderHealth:
    return (await store.health())[provider]


def test_fake_source_satisfies_the_protocol() -> None:
    assert isinstance(FakeSource("vast_ai", []), OfferSource)


# --- success ---------------------------------------------------------------------------


async def test_success_stores_normalised_offers_and_records_health(
    store: Store, fake_clock: FakeClock
) -> None:
    source = FakeSource("vast_ai", GOOD, delay=0.02)
    refresher = make_refresher(store, fake_clock)

    outcome = await refresher.refresh(source)

    assert outcome.provider == "vast_ai"
    assert outcome.display_name == "Vast.ai"
    assert outcome.ok and not outcome.skipped
    assert (outcome.offers, outcome.added, outcome.removed, outcome.price_changes) == (2, 0, 0, 0)
    assert outcome.error is None and outcome.error_kind is None
    assert outcome.latency_ms >= 20  # the source took 20 ms
    assert outcome.summary() == f"Vast.ai: 2 offers (+0 -0) in {outcome.latency_ms:.0f} ms"

    stored = await offers_of(store, "vast_ai")
    assert set(stored) == {"vast_ai:1", "vast_ai:2"}
    # normalised from the catalog: the raw name is kept, the canonical model filled in
    assert stored["vast_ai:1"].gpu_name == "NVIDIA GeForce RTX 4090"
    assert stored["vast_ai:1"].gpu_model == "RTX 4090"
    assert stored["vast_ai:1"].gpu_category == "consumer"
    assert stored["vast_ai:2"].gpu_model == "A100 80GB SXM"
    assert stored["vast_ai:2"].gpu_memory_gb == 80
    assert not any(o.stale for o in stored.values())
    assert all(o.fetched_at == FIXED_NOW for o in stored.values())
    # ... so a search by canonical model finds the raw-named offer
    page = await store.search(SearchQuery(gpu_models=("RTX 4090",)))
    assert [o.id for o in page.offers] == ["vast_ai:1"]

    health = await health_of(store, "vast_ai")
    assert health.status == "ok"
    assert health.offer_count == 2
    assert health.latency_ms == pytest.approx(outcome.latency_ms)
    assert health.last_success_at == FIXED_NOW
    assert health.last_attempt_at == FIXED_NOW
    assert health.next_attempt_at == FIXED_NOW + timedelta(seconds=60)
    assert health.consecutive_failures == 0
    assert health.last_error is None and health.last_error_kind is None


async def test_second_refresh_reports_moves_and_uses_the_provider_interval(
    store: Store, fake_clock: FakeClock
) -> None:
    later = [
        raw_offer("runpod", "1", price=0.4),  # cheaper
        raw_offer("runpod", "3", "NVIDIA H100 80GB HBM3", price=2.5),  # new; "2" is gone
    ]
    source = FakeSource("runpod", provider_offers("runpod", 0.5), later)
    refresher = make_refresher(store, fake_clock, interval=lambda name: {"runpod": 300.0}[name])
    await refresher.refresh(source)

    t1 = fake_clock.advance(30)
    outcome = await refresher.refresh(source)

    assert (outcome.offers, outcome.added, outcome.removed, outcome.price_changes) == (2, 1, 1, 1)
    assert outcome.summary() == (
        f"RunPod: 2 offers (+1 -1, 1 price changes) in {outcome.latency_ms:.0f} ms"
    )
    stored = await offers_of(store, "runpod")
    assert set(stored) == {"runpod:1", "runpod:3"}
    assert stored["runpod:1"].previous_price_per_hour == 0.5
    assert stored["runpod:1"].fetched_at == t1
    assert stored["runpod:1"].first_seen_at == FIXED_NOW
    assert stored["runpod:3"].gpu_model == "H100"
    health = await health_of(store, "runpod")
    assert health.last_success_at == t1
    assert health.next_attempt_at == t1 + timedelta(seconds=300)


# --- failures ---------------------------------------------------------------------------

HANG = "hang"

FAILURES = [
    pytest.param(
        AuthError("vast_ai", "the API key was rejected (401): check VAST_AI_API_KEY"),
        "auth",
        "the API key was rejected (401): check VAST_AI_API_KEY",
        id="auth",
    ),
    pytest.param(
        RateLimited("vast_ai", "too many requests (429): slow down", retry_after=30),
        "rate_limited",
        "too many requests (429): slow down",
        id="rate_limited",
    ),
    pytest.param(
        ProviderUnavailable("vast_ai", "server error (503): try again later", status=503),
        "unavailable",
        "server error (503): try again later",
        id="unavailable",
    ),
    pytest.param(
        BadResponse("vast_ai", "the offer list was not JSON"),
        "bad_response",
        "the offer list was not JSON",
        id="bad_response",
    ),
    pytest.param(
        CapacityError("vast_ai", "no capacity for this configuration"),
        "capacity",
        "no capacity for this configuration",
        id="capacity",
    ),
    pytest.param(
        KeyError("gpu_name"),
        "bad_response",
        "unexpected error (KeyError: 'gpu_name')",
        id="adapter_bug",
    ),
    pytest.param(
        HANG,  # the source waits forever: the refresher's timeout fires
        "unavailable",
        "no answer within",
        id="timeout",
    ),
]


@pytest.mark.parametrize(("failure", "kind", "message"), FAILURES)
async def test_a_failure_keeps_the_last_good_offers_marked_stale(
    store: Store,
    fake_clock: FakeClock,
    failure: Exception | str,
    kind: str,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # another provider's offers, with no health row: must stay untouched and fresh
    await store.replace_offers("runpod", [make_offer("runpod", "x")], fetched_at=FIXED_NOW)
    answer: Result = asyncio.Event() if failure == HANG else failure  # type: ignore[assignment]
    source = FakeSource("vast_ai", GOOD, answer)
    refresher = make_refresher(store, fake_clock, timeout=0.05)
    assert (await refresher.refresh(source)).ok
    before = await offers_of(store, "vast_ai")

    failed_at = fake_clock.advance(90)
    with caplog.at_level(logging.WARNING, logger="gpucm.engine.refresher"):
        # must not raise; and must not hang (the outer bound only guards the suite)
        outcome = await asyncio.wait_for(refresher.refresh(source), 2)

    assert source.calls == 2
    assert source.active == 0  # a hung fetch was cancelled, not left running
    assert not outcome.ok and not outcome.skipped
    assert outcome.error_kind == kind
    if failure == HANG:
        assert outcome.error is not None and outcome.error.startswith(message)
    else:
        assert outcome.error == message
    assert outcome.offers == 0
    assert outcome.summary() == f"Vast.ai: FAILED: {outcome.error}"
    assert f"refresh of vast_ai failed: {outcome.error}" in caplog.text

    after = await offers_of(store, "vast_ai")
    assert set(after) == set(before) == {"vast_ai:1", "vast_ai:2"}
    for oid, offer in after.items():
        assert offer.stale, oid
        assert offer.price_per_hour == before[oid].price_per_hour
        assert offer.fetched_at == FIXED_NOW  # the last good snapshot, not rewritten
    assert not any(o.stale for o in (await offers_of(store, "runpod")).values())

    health = await health_of(store, "vast_ai")
    assert health.status == "failing"
    assert health.last_error == outcome.error
    assert health.last_error_kind == kind
    assert health.consecutive_failures == 1
    assert health.last_attempt_at == failed_at
    assert health.last_success_at == FIXED_NOW  # kept from the last success
    assert health.offer_count == 2  # what the stale snapshot holds
    assert health.next_attempt_at == failed_at + timedelta(seconds=60)

    # a second failure in a row counts up and backs off
    again_at = fake_clock.advance(60)
    outcome2 = await refresher.refresh(source)
    assert not outcome2.ok and outcome2.error_kind == kind
    health = await health_of(store, "vast_ai")
    assert health.consecutive_failures == 2
    assert health.next_attempt_at == again_at + timedelta(seconds=120)
    assert set(await offers_of(store, "vast_ai")) == {"vast_ai:1", "vast_ai:2"}


async def test_a_failure_before_any_success_stores_nothing_and_says_why(
    store: Store, fake_clock: FakeClock
) -> None:
    source = FakeSource("lambda_labs", ProviderUnavailable("lambda_labs", "connection refused"))
    outcome = await make_refresher(store, fake_clock).refresh(source)
    assert outcome == RefreshOutcome(
        "lambda_labs",
        ok=False,
        latency_ms=outcome.latency_ms,
        error="connection refused",
        error_kind="unavailable",
    )
    assert outcome.summary() == "Lambda Cloud: FAILED: connection refused"
    assert await offers_of(store, "lambda_labs") == {}
    health = await health_of(store, "lambda_labs")
    assert (health.status, health.consecutive_failures, health.last_success_at) == (
        "failing",
        1,
        None,
    )


async def test_an_adapter_returning_another_providers_offers_is_a_failure(
    store: Store, fake_clock: FakeClock
) -> None:
    # a buggy adapter: the store refuses the snapshot, the refresher records it
    source = FakeSource("vast_ai", GOOD, [raw_offer("runpod", "9")])
    refresher = make_refresher(store, fake_clock)
    await refresher.refresh(source)
    outcome = await refresher.refresh(source)
    assert not outcome.ok
    assert outcome.error_kind == "bad_response"
    assert outcome.error is not None and "StoreError" in outcome.error
    assert set(await offers_of(store, "vast_ai")) == {"vast_ai:1", "vast_ai:2"}


async def test_timeout_message_names_the_real_timeout(store: Store, fake_clock: FakeClock) -> None:
    source = FakeSource("vast_ai", asyncio.Event())
    outcome = await asyncio.wait_for(
        make_refresher(store, fake_clock, timeout=0.05).refresh(source), 2
    )
    assert outcome.error_kind == "unavailable"
    assert outcome.error == "no answer within 0.05 s"


# --- backoff -----------------------------------------------------------------------------


def test_backoff_delays_double_then_cap_then_cool_down() -> None:
    default = BackoffPolicy()
    assert [default.delay(60, n) for n in range(7)] == [60, 60, 120, 240, 480, 600, 600]

    capped = BackoffPolicy(max_backoff=200, circuit_threshold=6, circuit_cooldown=1000)
    assert [capped.delay(60, n) for n in range(7)] == [60, 60, 120, 200, 200, 200, 1000]

    early = BackoffPolicy(circuit_threshold=2, circuit_cooldown=3000)
    assert [early.delay(60, n) for n in range(7)] == [60, 60, 3000, 3000, 3000, 3000, 3000]


async def test_health_next_attempt_follows_the_backoff(store: Store, fake_clock: FakeClock) -> None:
    policy = BackoffPolicy()
    source = FakeSource("vast_ai", GOOD, BadResponse("vast_ai", "garbled"))
    refresher = make_refresher(store, fake_clock, policy=policy)
    await refresher.refresh(source)

    seen = []
    for failures in range(1, 7):
        now = fake_clock.advance(1)
        outcome = await refresher.refresh(source, force=True)
        assert not outcome.ok and not outcome.skipped
        health = await health_of(store, "vast_ai")
        assert health.consecutive_failures == failures
        assert health.status == ("circuit_open" if failures >= 5 else "failing")
        assert health.next_attempt_at is not None
        seen.append((health.next_attempt_at - now).total_seconds())
    assert seen == [policy.delay(60, n) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]


@pytest.mark.parametrize("interval", [300.0, 3600.0])
def test_backoff_never_retries_a_failing_provider_sooner(interval: float) -> None:
    policy = BackoffPolicy()
    delays = [policy.delay(interval, n) for n in range(8)]
    assert all(d >= interval for d in delays), delays
    assert delays == sorted(delays), delays


# --- circuit breaker -----------------------------------------------------------------------


async def test_circuit_opens_skips_reopens_and_closes_on_success(
    store: Store, fake_clock: FakeClock
) -> None:
    policy = BackoffPolicy(circuit_threshold=3, circuit_cooldown=600)
    down = ProviderUnavailable("vast_ai", "server error (502)")
    source = FakeSource("vast_ai", GOOD, down, down, down, down, GOOD)
    refresher = make_refresher(store, fake_clock, policy=policy)
    assert (await refresher.refresh(source)).ok

    # failures 1 and 2: failing, retried whenever asked (the scheduler honours the backoff)
    for n in (1, 2):
        fake_clock.advance(1)
        assert not (await refresher.refresh(source)).ok
        assert (await health_of(store, "vast_ai")).status == "failing"
        assert source.calls == 1 + n
    tripped_at = fake_clock.advance(1)
    third = await refresher.refresh(source)
    assert not third.ok and not third.skipped
    health = await health_of(store, "vast_ai")
    assert health.status == "circuit_open"
    assert health.consecutive_failures == 3
    assert health.next_attempt_at == tripped_at + timedelta(seconds=600)

    # before the cool-down ends: skipped, the source is not called, nothing changes
    fake_clock.advance(599)
    skipped = await refresher.refresh(source)
    assert skipped.skipped and not skipped.ok
    assert source.calls == 4
    assert skipped.error == "server error (502)"
    assert skipped.error_kind == "unavailable"
    assert skipped.summary() == (
        "Vast.ai: skipped, circuit open after repeated failures (server error (502))"
    )
    assert await health_of(store, "vast_ai") == health
    assert all(o.stale for o in (await offers_of(store, "vast_ai")).values())

    # past the cool-down: attempted again (half open); still down -> open again
    retry_at = fake_clock.advance(1.5)
    retried = await refresher.refresh(source)
    assert not retried.skipped and not retried.ok
    assert source.calls == 5
    health = await health_of(store, "vast_ai")
    assert (health.status, health.consecutive_failures) == ("circuit_open", 4)
    assert health.next_attempt_at == retry_at + timedelta(seconds=600)

    # open, but forced (the user pressed refresh): attempted; a success closes the circuit
    closed_at = fake_clock.advance(5)
    forced = await refresher.refresh(source, force=True)
    assert forced.ok and not forced.skipped
    assert source.calls == 6
    health = await health_of(store, "vast_ai")
    assert health.status == "ok"
    assert health.consecutive_failures == 0
    assert health.last_error is None and health.last_error_kind is None
    assert health.next_attempt_at == closed_at + timedelta(seconds=60)
    stored = await offers_of(store, "vast_ai")
    assert set(stored) == {"vast_ai:1", "vast_ai:2"}
    assert not any(o.stale for o in stored.values())


async def test_forced_refresh_runs_through_an_open_circuit_even_when_failing(
    store: Store, fake_clock: FakeClock
) -> None:
    policy = BackoffPolicy(circuit_threshold=1, circuit_cooldown=600)
    source = FakeSource("vast_ai", AuthError("vast_ai", "key revoked"))
    refresher = make_refresher(store, fake_clock, policy=policy)
    await refresher.refresh(source)
    assert (await refresher.refresh(source)).skipped
    assert source.calls == 1
    forced = await refresher.refresh(source, force=True)
    assert not forced.skipped and forced.error == "key revoked"
    assert source.calls == 2
    assert (await health_of(store, "vast_ai")).consecutive_failures == 2


# --- several providers -------------------------------------------------------------------


async def test_one_provider_down_while_the_others_refresh(
    store: Store, fake_clock: FakeClock
) -> None:
    vast = FakeSource("vast_ai", provider_offers("vast_ai", 0.5), provider_offers("vast_ai", 0.4))
    runpod = FakeSource(
        "runpod",
        provider_offers("runpod", 0.7),
        ProviderUnavailable("runpod", "server error (500): try again later"),
    )
    lam = FakeSource(
        "lambda_labs", provider_offers("lambda_labs", 1.1), provider_offers("lambda_labs", 1.0)
    )
    refresher = make_refresher(store, fake_clock)
    first = await refresher.refresh_all([vast, runpod, lam])
    assert all(o.ok for o in first)

    fake_clock.advance(60)
    outcomes = await refresher.refresh_all([vast, runpod, lam])

    assert [o.provider for o in outcomes] == ["vast_ai", "runpod", "lambda_labs"]
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error_kind == "unavailable"
    assert outcomes[1].summary() == "RunPod: FAILED: server error (500): try again later"
    assert outcomes[0].price_changes == outcomes[2].price_changes == 2

    vast_now = await offers_of(store, "vast_ai")
    lam_now = await offers_of(store, "lambda_labs")
    runpod_now = await offers_of(store, "runpod")
    assert vast_now["vast_ai:1"].price_per_hour == 0.4
    assert lam_now["lambda_labs:1"].price_per_hour == 1.0
    assert runpod_now["runpod:1"].price_per_hour == 0.7  # last good
    assert not any(o.stale for o in [*vast_now.values(), *lam_now.values()])
    assert all(o.stale for o in runpod_now.values())
    health = await store.health()
    assert {p: h.status for p, h in health.items()} == {
        "lambda_labs": "ok",
        "runpod": "failing",
        "vast_ai": "ok",
    }


async def test_refresh_all_runs_the_providers_concurrently(
    store: Store, fake_clock: FakeClock
) -> None:
    sources = [
        FakeSource(name, provider_offers(name, 1.0), delay=0.2)
        for name in ("vast_ai", "runpod", "lambda_labs")
    ]
    in_flight: list[int] = []

    async def watch() -> None:
        while True:
            in_flight.append(sum(s.active for s in sources))
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    outcomes = await make_refresher(store, fake_clock).refresh_all(sources)
    elapsed = time.perf_counter() - started
    watcher.cancel()

    assert all(o.ok for o in outcomes)
    assert max(in_flight) == 3
    assert elapsed < 0.45, f"three 0.2 s fetches took {elapsed:.2f} s: not concurrent"
    assert (await store.offer_counts()).keys() == {"vast_ai", "runpod", "lambda_labs"}


async def test_an_unexpected_error_in_one_provider_does_not_escape_refresh_all(
    store: Store, fake_clock: FakeClock
) -> None:
    sources = [
        FakeSource("vast_ai", provider_offers("vast_ai", 1.0)),
        FakeSource("runpod", ZeroDivisionError("division by zero")),
    ]
    outcomes = await make_refresher(store, fake_clock).refresh_all(sources)
    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[1].error == "unexpected error (ZeroDivisionError: division by zero)"


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # it scans the database's files
@pytest.mark.parametrize(
    "error",
    [
        pytest.param(AuthError("vast_ai", f"key {SECRET} was rejected (401)"), id="provider_error"),
        pytest.param(
            RuntimeError(f"GET https://console.vast.ai/api/v0/bundles?api_key={SECRET} failed"),
            id="unexpected_error",
        ),
    ],
)
async def test_a_secret_in_an_error_never_reaches_outcome_health_log_or_disk(
    db_path: Path,
    fake_clock: FakeClock,
    error: Exception,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = await Store.open(db_path, clock=fake_clock)
    try:
        refresher = make_refresher(store, fake_clock, secrets=lambda: [SECRET])
        with caplog.at_level(logging.DEBUG):
            outcome = await refresher.refresh(FakeSource("vast_ai", error))
        health = await health_of(store, "vast_ai")
    finally:
        await store.close()

    assert outcome.error is not None and "***" in outcome.error  # redacted, not dropped
    for text in (outcome.error, outcome.summary(), repr(outcome), health.last_error, caplog.text):
        assert text is not None and SECRET not in text
    assert health.last_error == outcome.error
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    assert db_path in files
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path.name


async def test_secrets_are_read_afresh_on_every_refresh(
    store: Store, fake_clock: FakeClock
) -> None:
    keys = ["old-key-1234"]
    source = FakeSource("vast_ai", ProviderError("vast_ai", "rejected new-key-5678"))
    refresher = make_refresher(store, fake_clock, secrets=lambda: list(keys))
    assert (await refresher.refresh(source)).error == "rejected new-key-5678"
    keys.append("new-key-5678")  # the user added a key to the config file
    assert (await refresher.refresh(source)).error == "rejected ***"


async def test_a_refresh_cancelled_as_its_fetch_returns_stays_cancelled(
    store: Store, fake_clock: FakeClock
) -> None:
    # the app quits just as the provider answers: the refresh must end there, not go on
    # to write a snapshot and report success to a worker that was told to stop
    class AnswersAsCancelled(FakeSource):
        async def fetch_offers(self) -> list[Offer]:
            refreshing.cancel()
            return list(GOOD)

    refresher = make_refresher(store, fake_clock)
    refreshing = asyncio.create_task(refresher.refresh(AnswersAsCancelled("vast_ai", GOOD)))
    await asyncio.wait({refreshing}, timeout=5)
    assert refreshing.cancelled()
    assert await offers_of(store, "vast_ai") == {}


# --- serialisation -------------------------------------------------------------------------------


async def test_concurrent_refreshes_of_one_provider_are_serialised(
    store: Store, fake_clock: FakeClock
) -> None:
    gate = asyncio.Event()
    source = FakeSource("vast_ai", gate, GOOD, GOOD[:1])
    other = FakeSource("runpod", provider_offers("runpod", 1.0))
    refresher = make_refresher(store, fake_clock)

    first = asyncio.create_task(refresher.refresh(source))
    second = asyncio.create_task(refresher.refresh(source, force=True))
    await asyncio.wait_for(source.started.wait(), 1)
    await asyncio.sleep(0.05)
    assert source.calls == 1  # the second waits for the first, it does not fetch alongside
    # ... but only this provider waits: another one refreshes meanwhile
    assert (await asyncio.wait_for(refresher.refresh(other), 1)).ok

    gate.set()
    one, two = await asyncio.wait_for(asyncio.gather(first, second), 1)

    assert source.calls == 2
    assert source.max_active == 1
    assert one.ok and two.ok
    assert (one.offers, two.offers, two.removed) == (2, 1, 1)  # the second saw the first's
    assert set(await offers_of(store, "vast_ai")) == {"vast_ai:1"}
