"""/metrics (ENABLE_METRICS), written by prometheus-client: request counts and a
latency histogram by route template (never the raw path, so ids cannot blow up the
series), rate-limited requests, and the market and instances as the store holds them.

The exposition format (its escaping of label values, the histogram's buckets, sums
and counts, OpenMetrics for a scraper that asks for it) is the library's; what is
measured and how it is named is gpucm's. Names are those of the hand-written format
this replaced, so dashboards keep working; values now print as floats ("1.0"), the
`_created` series are off, and each provider's last refresh error is a new series
(`gpucm_provider_last_error_info`, one per failing provider).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import prometheus_client
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gpucm.domain.models import ProviderHealth

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HEALTH_STATES = ("ok", "stale", "failing", "circuit_open", "never")
# a provider's error text as a label value: enough to read what failed, bounded
MAX_ERROR_LABEL = 200

# One series per counter, not two: `x_created` doubles the series and no dashboard of
# gpucm's reads it. (A process-wide switch of the library's; the server is its only user.)
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """The server's own measurements, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self.requests = prometheus_client.Counter(
            "gpucm_http_requests",
            "HTTP requests answered, by route template.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = prometheus_client.Histogram(
            "gpucm_http_request_duration_seconds",
            "Time to answer, by route template.",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = prometheus_client.Counter(
            "gpucm_http_rate_limited",
            "Requests refused by the rate limit.",
            registry=self.registry,
        )
        started = prometheus_client.Gauge(
            "gpucm_process_start_time_seconds",
            "When the server started (Unix time).",
            registry=self.registry,
        )
        started.set(time.time())

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def limited(self) -> None:
        self.rate_limited.inc()

    def render(self, market: MarketSnapshot, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (Prometheus text, or OpenMetrics if `accept` asks for it) and
        its content type."""
        encode, content_type = choose_encoder(accept or "")
        return encode(_Scrape(self.registry, market)), content_type


@dataclass(frozen=True)
class MarketSnapshot:
    """What the store held when the scrape came: read once, then written out."""

    offer_counts: dict[str, tuple[int, int]]
    health: dict[str, ProviderHealth]
    instances: Counter[str]
    providers: tuple[str, ...]

    def families(self) -> Iterator[Metric]:
        names = sorted(set(self.providers) | set(self.offer_counts) | set(self.health))
        offers = GaugeMetricFamily(
            "gpucm_offers",
            "Offers in the store, by provider and availability.",
            labels=["provider", "available"],
        )
        for name in names:
            total, available = self.offer_counts.get(name, (0, 0))
            offers.add_metric([name, "true"], available)
            offers.add_metric([name, "false"], total - available)
        yield offers

        health = GaugeMetricFamily(
            "gpucm_provider_health",
            "The state of each provider's refreshes (1 = current).",
            labels=["provider", "state"],
        )
        success = GaugeMetricFamily(
            "gpucm_provider_last_success_timestamp_seconds",
            "Last good refresh (Unix time).",
            labels=["provider"],
        )
        errors = InfoMetricFamily(
            "gpucm_provider_last_error",
            "The last refresh error of each provider whose refreshes are failing.",
            labels=["provider"],
        )
        for name in names:
            h = self.health.get(name)
            state = h.status if h else "never"
            for candidate in HEALTH_STATES:
                health.add_metric([name, candidate], 1 if candidate == state else 0)
            if h and h.last_success_at:
                success.add_metric([name], h.last_success_at.timestamp())
            if h and h.last_error and h.status != "ok":
                errors.add_metric(
                    [name],
                    {"kind": h.last_error_kind or "error", "error": _bounded(h.last_error)},
                )
        yield health
        yield success
        yield errors

        instances = GaugeMetricFamily(
            "gpucm_instances", "Your instances as last synced, by status.", labels=["status"]
        )
        for status, n in sorted(self.instances.items()):
            instances.add_metric([status], n)
        yield instances


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LABEL else text[: MAX_ERROR_LABEL - 1] + "…"


class _Scrape:
    """One scrape: the server's registry, then the market snapshot."""

    def __init__(self, registry: prometheus_client.CollectorRegistry, market: MarketSnapshot):
        self._registry = registry
        self._market = market

    def collect(self) -> Iterable[Metric]:
        yield from self._registry.collect()
        yield from self._market.families()


class RequestMetrics:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self._monotonic = monotonic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = self._monotonic()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status, self._monotonic() - start)
