"""The refresh workers: one task per configured provider, each on its own interval,
hot-swapped as the configuration changes, woken on demand, and backing off for a
failing provider.

Most tests run in real time with tiny supervision periods and long intervals. The
scheduler never sleeps less than 1 s between two refreshes of a provider, so the tests
of *how long* a worker waits run the worker's wait through `warp`: the scheduler's
`asyncio.timeout` is recorded and scaled down (60 s become 6 ms), everything else is
real asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import linecache
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import gpucm.engine.scheduler as scheduler_module
from gpucm.domain.catalog import Catalog
from gpucm.domain.models import Offer, ProviderHealth, offer_id
from gpucm.engine.refresher import BackoffPolicy, Refresher, RefreshOutcome
from gpucm.engine.scheduler import OutcomeHandler, RefreshScheduler
from gpucm.providers.base import OfferSource
from gpucm.providers.errors import AuthError, ProviderUnavailable
from gpucm.store.store import Store
from tests.conftest import FIXED_NOW

SUPERVISE = 0.01

# --- fakes ---------------------------------------------------------------------------

Result = list[Offer] | BaseException | asyncio.Event


class FakeClock:
    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class FakeSource:
    """Answers from a queue (offers, an exception to raise, or an Event to wait on
    before the next entry answers); the last entry repeats."""

    def __init__(self, name: str, *results: Result) -> None:
        self._name = name
        self._results: deque[Result] = deque(results or ([],))
        self.calls = 0
        self.active = 0
        self.max_active = 0

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
        try:
            result = self._next()
            while isinstance(result, asyncio.Event):
                await result.wait()
                result = self._next()
            if isinstance(result, BaseException):
                raise result
            return list(result)
        finally:
            self.active -= 1

    async def aclose(self) -> None:
        pass


class SlowToCancel(FakeSource):
    """A fetch that hangs, and when cancelled takes `teardown` seconds to wind down
    (like an HTTP client closing its connection)."""

    def __init__(self, name: str, teardown: float = 0.2) -> None:
        super().__init__(name)
        self.teardown = teardown
        self.tearing_down = asyncio.Event()

    async def fetch_offers(self) -> list[Offer]:
        self.calls += 1
        self.active += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.tearing_down.set()
            await asyncio.sleep(self.teardown)
            raise
        finally:
            self.active -= 1
        return []


def offers(provider: str, price: float = 1.0) -> list[Offer]:
    return [
        Offer(
            id=offer_id(provider, "1"),
            provider=provider,
            provider_id="1",
            gpu_name="NVIDIA GeForce RTX 4090",
            gpu_count=1,
            price_per_hour=price,
            region="Texas, US",
            fetched_at=FIXED_NOW,
        )
    ]


class Warp:
    """Stands in for `asyncio` inside the scheduler module: records each worker's wait
    (task name, seconds asked) and waits `factor` times as long."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.waits: list[tuple[str, float]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def timeout(self, delay: float) -> asyncio.Timeout:
        task = asyncio.current_task()
        self.waits.append((task.get_name() if task else "", delay))
        return asyncio.timeout(delay * self.factor)

    def of(self, provider: str) -> list[float]:
        return [seconds for name, seconds in self.waits if name == f"refresh:{provider}"]


@pytest.fixture
def warp(monkeypatch: pytest.MonkeyPatch) -> Warp:
    warp = Warp(factor=0.0001)
    monkeypatch.setattr(scheduler_module, "asyncio", warp)
    return warp


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


def worker_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("refresh:")]


def live_worker(provider: str) -> asyncio.Task[Any]:
    (task,) = [t for t in worker_tasks() if t.get_name() == f"refresh:{provider}" and not t.done()]
    return task


async def wait_until(condition: Callable[[], bool], within: float = 1.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.005)


async def finishes(aw: Awaitable[Any], within: float = 1.0) -> Any:
    """Await without hanging the suite if it never ends (asyncio.wait_for would wait
    for a task that swallows its cancellation)."""
    task = asyncio.ensure_future(aw)
    await asyncio.wait({task}, timeout=within)
    assert task.done(), f"still running after {within} s"
    with contextlib.suppress(asyncio.CancelledError):
        return task.result()
    return None


async def reap_workers() -> None:
    """Cancel any worker still running and give it a second to wind down."""
    tasks = [t for t in worker_tasks() if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=1)


def make_scheduler(
    store: Store,
    clock: FakeClock,
    sources: Callable[[], list[OfferSource]],
    interval: Callable[[str], float],
    *,
    on_outcome: OutcomeHandler | None = None,
    policy: BackoffPolicy | None = None,
    supervise_every: float = SUPERVISE,
) -> RefreshScheduler:
    refresher = Refresher(store, Catalog.builtin, clock, interval=interval, policy=policy)
    return RefreshScheduler(
        refresher,
        store,
        sources,
        clock,
        interval,
        on_outcome=on_outcome,
        supervise_every=supervise_every,
    )


@asynccontextmanager
async def running(scheduler: RefreshScheduler) -> AsyncIterator[asyncio.Task[None]]:
    """run() in a task; cancelled on the way out, and then nothing may be left running."""
    task = asyncio.create_task(scheduler.run())
    try:
        yield task
    finally:
        task.cancel()
        await finishes(task)
    assert scheduler.running == []
    assert [t.get_name() for t in worker_tasks() if not t.done()] == []


# --- workers -----------------------------------------------------------------------------


async def test_each_source_gets_its_own_worker_refreshing_on_its_own_interval(
    store: Store, fake_clock: FakeClock, warp: Warp
) -> None:
    vast = FakeSource("vast_ai", offers("vast_ai"))
    runpod = FakeSource("runpod", offers("runpod"))
    intervals = {"vast_ai": 60.0, "runpod": 240.0}
    scheduler = make_scheduler(store, fake_clock, lambda: [vast, runpod], intervals.__getitem__)

    async with running(scheduler):
        await wait_until(lambda: scheduler.running == ["runpod", "vast_ai"])
        await wait_until(lambda: vast.calls >= 5 and runpod.calls >= 2)
        assert live_worker("vast_ai") is not live_worker("runpod")

    # each waited its own interval between refreshes, and so refreshed at its own pace
    assert set(warp.of("vast_ai")) == {60.0}
    assert set(warp.of("runpod")) == {240.0}
    assert vast.calls > runpod.calls
    assert vast.max_active == runpod.max_active == 1
    health = await store.health()
    assert {p: (h.status, h.offer_count) for p, h in health.items()} == {
        "runpod": ("ok", 1),
        "vast_ai": ("ok", 1),
    }


async def test_a_worker_waits_at_least_a_second_when_its_next_attempt_is_already_due(
    store: Store, fake_clock: FakeClock, warp: Warp
) -> None:
    # the wall clock jumps an hour between a refresh and the wait (a laptop resumed):
    # the next attempt is overdue, and the worker must not spin
    source = FakeSource("vast_ai", offers("vast_ai"))

    def clock_jumps(_outcome: RefreshOutcome) -> None:
        fake_clock.advance(3600)

    scheduler = make_scheduler(
        store, fake_clock, lambda: [source], lambda _name: 60.0, on_outcome=clock_jumps
    )
    async with running(scheduler):
        await wait_until(lambda: len(warp.of("vast_ai")) >= 2)
    assert warp.of("vast_ai")[:2] == [1.0, 1.0]


async def test_hot_swap_starts_and_stops_workers_without_a_restart(
    store: Store, fake_clock: FakeClock
) -> None:
    vast = FakeSource("vast_ai", offers("vast_ai"))
    runpod = FakeSource("runpod", offers("runpod"))
    configured: list[OfferSource] = [vast]
    scheduler = make_scheduler(store, fake_clock, lambda: list(configured), lambda _n: 10.0)

    async with running(scheduler) as supervisor:
        await wait_until(lambda: vast.calls == 1)
        assert scheduler.running == ["vast_ai"]
        vast_worker = live_worker("vast_ai")

        configured.append(runpod)  # a key added to the config file
        await wait_until(lambda: runpod.calls == 1)
        assert scheduler.running == ["runpod", "vast_ai"]
        runpod_worker = live_worker("runpod")
        assert live_worker("vast_ai") is vast_worker  # untouched: not restarted ...
        assert vast.calls == 1  # ... so no extra refresh

        configured.remove(vast)  # and one removed
        await wait_until(lambda: scheduler.running == ["runpod"])
        await wait_until(vast_worker.done)
        assert vast_worker.cancelled()
        await asyncio.sleep(5 * SUPERVISE)  # a few more supervision rounds change nothing
        assert scheduler.running == ["runpod"]
        assert live_worker("runpod") is runpod_worker
        assert (vast.calls, runpod.calls) == (1, 1)
        assert not supervisor.done()  # the same run() throughout


async def test_a_worker_whose_provider_left_ends_at_its_next_wake_up(
    store: Store, fake_clock: FakeClock
) -> None:
    # the supervisor looks only every 10 s: the worker must notice the removal by itself
    vast = FakeSource("vast_ai", offers("vast_ai"))
    runpod = FakeSource("runpod", offers("runpod"))
    configured: list[OfferSource] = [vast, runpod]
    scheduler = make_scheduler(
        store, fake_clock, lambda: list(configured), lambda _n: 10.0, supervise_every=10.0
    )
    async with running(scheduler):
        await wait_until(lambda: vast.calls == runpod.calls == 1)
        vast_worker = live_worker("vast_ai")
        configured.remove(vast)
        scheduler.refresh_now()
        await wait_until(lambda: runpod.calls == 2)
        await wait_until(vast_worker.done)
        assert not vast_worker.cancelled()  # it returned: nothing left to refresh
        assert vast.calls == 1  # and did not fetch a provider no longer configured
        assert scheduler.running == ["runpod"]


async def test_stop_ends_run_and_every_worker(store: Store, fake_clock: FakeClock) -> None:
    gate = asyncio.Event()  # runpod's fetch hangs: stop() must cancel it mid-refresh
    vast = FakeSource("vast_ai", offers("vast_ai"))
    runpod = FakeSource("runpod", gate)
    scheduler = make_scheduler(store, fake_clock, lambda: [vast, runpod], lambda _n: 10.0)
    supervisor = asyncio.create_task(scheduler.run())
    await wait_until(lambda: vast.calls == 1 and runpod.active == 1)

    await finishes(scheduler.stop())

    assert scheduler.running == []
    assert runpod.active == 0  # the hung fetch was cancelled
    assert [t for t in worker_tasks() if not t.done()] == []
    await finishes(supervisor)  # run() notices and returns by itself
    assert supervisor.exception() is None


async def test_stop_waits_for_a_removed_workers_teardown(
    store: Store, fake_clock: FakeClock
) -> None:
    source = SlowToCancel("vast_ai")
    configured: list[OfferSource] = [source]
    scheduler = make_scheduler(store, fake_clock, lambda: list(configured), lambda _n: 10.0)
    supervisor = asyncio.create_task(scheduler.run())
    try:
        await wait_until(lambda: scheduler.running == ["vast_ai"])
        await asyncio.sleep(0.02)
        configured.clear()
        await wait_until(source.tearing_down.is_set)
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
        assert [t.get_name() for t in worker_tasks() if not t.done()] == []
    finally:
        # let the orphan finish so it does not outlive the store
        await reap_workers()


async def test_stop_honours_its_own_cancellation(store: Store, fake_clock: FakeClock) -> None:
    sources: list[OfferSource] = [SlowToCancel("vast_ai", 0.3), SlowToCancel("runpod", 0.3)]
    scheduler = make_scheduler(store, fake_clock, lambda: sources, lambda _n: 10.0)
    supervisor = asyncio.create_task(scheduler.run())
    try:
        await wait_until(lambda: all(isinstance(s, FakeSource) and s.active for s in sources))
        stopping = asyncio.create_task(scheduler.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()  # the workers take 0.3 s to wind down
        stopping.cancel()  # e.g. a shutdown deadline, asyncio.wait_for(stop(), ...)
        await asyncio.wait({stopping}, timeout=0.1)
        assert stopping.cancelled()
    finally:
        supervisor.cancel()
        await finishes(supervisor)
        await reap_workers()


async def test_stop_as_a_worker_is_woken_ends_it(store: Store, fake_clock: FakeClock) -> None:
    # the wake-up and the cancellation land in the same loop turn (a refresh asked for
    # as the app quits): the worker must end, not refresh once more and sleep its interval
    source = FakeSource("vast_ai", offers("vast_ai"))
    scheduler = make_scheduler(store, fake_clock, lambda: [source], lambda _n: 600.0)
    supervisor = asyncio.create_task(scheduler.run())
    try:
        await wait_until(lambda: source.calls == 1 and sleeping(live_worker("vast_ai")))
        scheduler.refresh_now("vast_ai")
        await finishes(scheduler.stop())
        assert [t for t in worker_tasks() if not t.done()] == []
        assert source.calls == 1
    finally:
        supervisor.cancel()
        await finishes(supervisor)
        await reap_workers()


def sleeping(worker: asyncio.Task[Any]) -> bool:
    """Between two refreshes: suspended on the line that waits for its wake-up."""
    (frame,) = worker.get_stack(limit=1)
    return "wake.wait()" in linecache.getline(frame.f_code.co_filename, frame.f_lineno)


# --- refresh now ----------------------------------------------------------------------------


async def test_refresh_now_wakes_a_sleeping_worker_and_forces_through_an_open_circuit(
    store: Store, fake_clock: FakeClock
) -> None:
    # vast_ai's circuit is open for another ten minutes; runpod is healthy
    await store.save_health(
        ProviderHealth(
            provider="vast_ai",
            status="circuit_open",
            last_error="server error (502)",
            last_error_kind="unavailable",
            consecutive_failures=5,
            next_attempt_at=FIXED_NOW + timedelta(minutes=10),
        )
    )
    vast = FakeSource("vast_ai", offers("vast_ai"))
    runpod = FakeSource("runpod", offers("runpod"))
    outcomes: list[RefreshOutcome] = []
    scheduler = make_scheduler(
        store, fake_clock, lambda: [vast, runpod], lambda _n: 10.0, on_outcome=outcomes.append
    )
    loop = asyncio.get_running_loop()

    async with running(scheduler):
        await wait_until(lambda: len(outcomes) == 2)
        skipped = next(o for o in outcomes if o.provider == "vast_ai")
        assert skipped.skipped and vast.calls == 0  # the circuit holds on schedule
        assert runpod.calls == 1
        await asyncio.sleep(0.05)
        assert (vast.calls, runpod.calls) == (0, 1)  # both asleep (10 s, 10 min)

        woken_at = loop.time()
        scheduler.refresh_now("vast_ai")
        await wait_until(lambda: len(outcomes) == 3)
        assert loop.time() - woken_at < 0.5
        assert outcomes[-1].provider == "vast_ai"
        assert outcomes[-1].ok and not outcomes[-1].skipped  # forced through the circuit
        assert vast.calls == 1
        assert runpod.calls == 1  # only the named worker woke
        health = (await store.health())["vast_ai"]
        assert (health.status, health.consecutive_failures) == ("ok", 0)

        scheduler.refresh_now()  # all of them
        await wait_until(lambda: len(outcomes) == 5)
        assert (vast.calls, runpod.calls) == (2, 2)


# --- outcomes -------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["sync", "async"])
async def test_every_outcome_reaches_the_handler_even_after_it_raised(
    store: Store, fake_clock: FakeClock, style: str, caplog: pytest.LogCaptureFixture
) -> None:
    vast = FakeSource("vast_ai", offers("vast_ai"))
    runpod = FakeSource("runpod", AuthError("runpod", "the API key was rejected (401)"))
    received: list[RefreshOutcome] = []

    def record(outcome: RefreshOutcome) -> None:
        received.append(outcome)
        if len(received) == 1:
            raise RuntimeError("listener bug")

    async def record_async(outcome: RefreshOutcome) -> None:
        await asyncio.sleep(0)
        record(outcome)

    handler: OutcomeHandler = record if style == "sync" else record_async
    scheduler = make_scheduler(
        store, fake_clock, lambda: [vast, runpod], lambda _n: 10.0, on_outcome=handler
    )
    with caplog.at_level(logging.ERROR, logger="gpucm.engine.scheduler"):
        async with running(scheduler):
            await wait_until(lambda: len(received) == 2)
            for n in (2, 3):
                scheduler.refresh_now()
                await wait_until(lambda: vast.calls == runpod.calls == n)  # noqa: B023
                await wait_until(lambda: len(received) == 2 * n)  # noqa: B023

    assert caplog.text.count("refresh outcome handler failed") == 1
    assert "listener bug" in caplog.text
    assert len(received) == 6  # each refresh of each worker delivered exactly once
    by_provider = {p: [o for o in received if o.provider == p] for p in ("vast_ai", "runpod")}
    assert [o.ok for o in by_provider["vast_ai"]] == [True, True, True]
    assert [o.ok for o in by_provider["runpod"]] == [False, False, False]
    assert {o.error for o in by_provider["runpod"]} == {"the API key was rejected (401)"}


async def test_a_handler_returning_any_awaitable_is_awaited(
    store: Store, fake_clock: FakeClock
) -> None:
    delivered: list[RefreshOutcome] = []

    class Deliver:
        def __init__(self, outcome: RefreshOutcome) -> None:
            self.outcome = outcome

        def __await__(self) -> Generator[Any, None, None]:
            delivered.append(self.outcome)
            yield from asyncio.sleep(0).__await__()

    source = FakeSource("vast_ai", offers("vast_ai"))
    scheduler = make_scheduler(
        store, fake_clock, lambda: [source], lambda _n: 10.0, on_outcome=Deliver
    )
    async with running(scheduler):
        await wait_until(lambda: source.calls == 1)
        # the outcome is delivered once the refresh's writes land (slower on PostgreSQL)
        await wait_until(lambda: bool(delivered), within=5.0)
        await asyncio.sleep(0.05)
    assert [o.provider for o in delivered] == ["vast_ai"]


# --- backoff ---------------------------------------------------------------------------------


async def test_a_failing_worker_waits_for_its_backoff_not_the_interval(
    store: Store, fake_clock: FakeClock, warp: Warp
) -> None:
    policy = BackoffPolicy()  # 5 failures open the circuit for 600 s
    good = FakeSource("vast_ai", offers("vast_ai"))
    bad = FakeSource("runpod", ProviderUnavailable("runpod", "server error (503)"))
    outcomes: list[RefreshOutcome] = []
    scheduler = make_scheduler(
        store,
        fake_clock,
        lambda: [good, bad],
        lambda _n: 60.0,
        on_outcome=outcomes.append,
        policy=policy,
    )

    async with running(scheduler):
        await wait_until(lambda: sum(o.provider == "runpod" for o in outcomes) == 5)
        health = (await store.health())["runpod"]
        # then the open circuit holds: the worker comes back after the cool-down and skips
        await wait_until(lambda: sum(o.skipped for o in outcomes) >= 2)

    assert health.status == "circuit_open"
    assert health.consecutive_failures == 5
    assert health.next_attempt_at == FIXED_NOW + timedelta(seconds=600)
    assert bad.calls == 5  # no fetch while the circuit is open
    assert good.calls > bad.calls
    bad_waits = warp.of("runpod")
    assert bad_waits[:5] == [policy.delay(60, n) for n in range(1, 6)]
    assert bad_waits[:5] == [60, 120, 240, 480, 600]
    assert set(bad_waits[5:]) == {600}
    assert set(warp.of("vast_ai")) == {60.0}  # the healthy one keeps its interval
    assert all(o.ok for o in outcomes if o.provider == "vast_ai")
    assert [o.skipped for o in outcomes if o.provider == "runpod"][:6] == [False] * 5 + [True]


async def test_a_recovered_provider_returns_to_its_interval(
    store: Store, fake_clock: FakeClock, warp: Warp
) -> None:
    down = ProviderUnavailable("vast_ai", "connection refused")
    source = FakeSource("vast_ai", down, down, offers("vast_ai"))
    scheduler = make_scheduler(store, fake_clock, lambda: [source], lambda _n: 60.0)
    async with running(scheduler):
        await wait_until(lambda: len(warp.of("vast_ai")) >= 4)
    assert warp.of("vast_ai")[:4] == [60.0, 120.0, 60.0, 60.0]
    health = (await store.health())["vast_ai"]
    assert (health.status, health.consecutive_failures) == ("ok", 0)
