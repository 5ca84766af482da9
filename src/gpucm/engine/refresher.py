"""Refreshing offers: fetch from a provider, normalise, replace its snapshot, record health.

A failing provider keeps its last good offers (the store marks them stale through its
health row), backs off exponentially, and after repeated failures trips a circuit
breaker that skips it until a cool-down passes. The others carry on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import Clock
from gpucm.domain.models import ProviderHealth
from gpucm.domain.normalize import normalize_offers
from gpucm.domain.provider_names import display_name
from gpucm.engine.ports import RefreshStore
from gpucm.providers.base import OfferSource
from gpucm.providers.errors import ProviderError, redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackoffPolicy:
    max_backoff: float = 15 * 60.0
    circuit_threshold: int = 5
    circuit_cooldown: float = 10 * 60.0

    def delay(self, interval: float, failures: int) -> float:
        """Seconds until the next attempt after `failures` consecutive failures."""
        if failures <= 0:
            return interval
        if failures >= self.circuit_threshold:
            # an open circuit never retries sooner than the last backoff did
            return max(self.circuit_cooldown, self.delay(interval, self.circuit_threshold - 1))
        # backing off never retries a failing provider sooner than a healthy one
        return float(max(interval, min(interval * 2 ** (failures - 1), self.max_backoff)))


@dataclass(frozen=True)
class RefreshOutcome:
    provider: str
    ok: bool
    offers: int = 0
    added: int = 0
    removed: int = 0
    price_changes: int = 0
    latency_ms: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    skipped: bool = False
    by: str | None = None  # another process's refresh (a team's refresher), user@host

    @property
    def display_name(self) -> str:
        return display_name(self.provider)

    def summary(self) -> str:
        name = self.display_name
        if self.skipped:
            return f"{name}: skipped, circuit open after repeated failures ({self.error})"
        by = f" (refreshed by {self.by})" if self.by else ""
        if not self.ok:
            return f"{name}: FAILED: {self.error}{by}"
        if self.by:
            return f"{name}: {self.offers} offers in {self.latency_ms:.0f} ms{by}"
        moved = f", {self.price_changes} price changes" if self.price_changes else ""
        return (
            f"{name}: {self.offers} offers (+{self.added} -{self.removed}{moved})"
            f" in {self.latency_ms:.0f} ms"
        )


class Refresher:
    def __init__(
        self,
        store: RefreshStore,
        catalog: Callable[[], Catalog],
        clock: Clock,
        *,
        policy: BackoffPolicy | None = None,
        timeout: float = 90.0,
        secrets: Callable[[], Sequence[str]] = list,
        interval: Callable[[str], float] = lambda _name: 60.0,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self.policy = policy or BackoffPolicy()
        self._timeout = timeout
        self._secrets = secrets
        self._interval = interval
        self._locks: dict[str, asyncio.Lock] = {}

    async def refresh(self, source: OfferSource, *, force: bool = False) -> RefreshOutcome:
        # One refresh per provider at a time: `r` during a scheduled refresh waits for it.
        lock = self._locks.setdefault(source.name, asyncio.Lock())
        async with lock:
            return await self._refresh(source, force=force)

    async def _refresh(self, source: OfferSource, *, force: bool) -> RefreshOutcome:
        name = source.name
        previous = (await self._store.health()).get(name) or ProviderHealth(provider=name)
        now = self._clock()
        if (
            not force
            and previous.status == "circuit_open"
            and previous.next_attempt_at is not None
            and now < previous.next_attempt_at
        ):
            return RefreshOutcome(
                name,
                ok=False,
                skipped=True,
                error=previous.last_error,
                error_kind=previous.last_error_kind,
            )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                raw = await source.fetch_offers()
            catalog = self._catalog()
            # Normalising thousands of offers is CPU work: off the event loop.
            offers = await asyncio.to_thread(normalize_offers, raw, catalog)
            latency = (time.perf_counter() - started) * 1000
            result = await self._store.replace_offers(name, offers, fetched_at=self._clock())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a provider must never take the app down
            latency = (time.perf_counter() - started) * 1000
            message, kind = self._describe(exc)
            failures = previous.consecutive_failures + 1
            delay = self.policy.delay(self._interval(name), failures)
            tripped = failures >= self.policy.circuit_threshold
            await self._store.save_health(
                previous.model_copy(
                    update={
                        "status": "circuit_open" if tripped else "failing",
                        "last_attempt_at": self._clock(),
                        "last_error": message,
                        "last_error_kind": kind,
                        "latency_ms": latency,
                        "consecutive_failures": failures,
                        "next_attempt_at": self._clock() + timedelta(seconds=delay),
                    }
                )
            )
            log.warning("refresh of %s failed: %s", name, message)
            return RefreshOutcome(
                name, ok=False, latency_ms=latency, error=message, error_kind=kind
            )
        finished = self._clock()
        await self._store.save_health(
            ProviderHealth(
                provider=name,
                status="ok",
                last_attempt_at=finished,
                last_success_at=finished,
                latency_ms=latency,
                offer_count=result.offers,
                consecutive_failures=0,
                next_attempt_at=finished + timedelta(seconds=self._interval(name)),
            )
        )
        return RefreshOutcome(
            name,
            ok=True,
            offers=result.offers,
            added=result.added,
            removed=result.removed,
            price_changes=result.price_changes,
            latency_ms=latency,
        )

    def _describe(self, exc: BaseException) -> tuple[str, str]:
        if isinstance(exc, ProviderError):
            text, kind = exc.message, exc.kind
        elif isinstance(exc, TimeoutError):
            text, kind = f"no answer within {self._timeout:g} s", "unavailable"
        else:
            text, kind = f"unexpected error ({type(exc).__name__}: {exc})", "bad_response"
        return redact(text, self._secrets()), kind

    async def refresh_all(
        self, sources: Sequence[OfferSource], *, force: bool = False
    ) -> list[RefreshOutcome]:
        """One round over every provider, concurrently."""
        return list(await asyncio.gather(*(self.refresh(s, force=force) for s in sources)))
