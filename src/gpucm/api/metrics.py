"""Prometheus text at /metrics (ENABLE_METRICS), written by hand: request counts and
latencies by route template (never the raw path, so ids cannot blow up the series),
rate-limited requests, and the market and instances as the store holds them."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gpucm.domain.models import ProviderHealth

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HEALTH_STATES = ("ok", "stale", "failing", "circuit_open", "never")


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    count: int = 0
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


class Metrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.rate_limited = 0
        self.started = time.time()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, str(status))] += 1
        self.latency.setdefault((method, route), _Histogram()).observe(seconds)

    def limited(self) -> None:
        self.rate_limited += 1

    def render(self, market: Iterable[str] = ()) -> str:
        lines = [
            "# HELP gpucm_http_requests_total HTTP requests answered, by route template.",
            "# TYPE gpucm_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(
                f"gpucm_http_requests_total{_labels(method=method, route=route, status=status)} {n}"
            )
        lines += [
            "# HELP gpucm_http_request_duration_seconds Time to answer, by route template.",
            "# TYPE gpucm_http_request_duration_seconds histogram",
        ]
        for (method, route), h in sorted(self.latency.items()):
            for bound, n in zip(BUCKETS, h.buckets, strict=True):
                labels = _labels(method=method, route=route, le=f"{bound:g}")
                lines.append(f"gpucm_http_request_duration_seconds_bucket{labels} {n}")
            labels = _labels(method=method, route=route, le="+Inf")
            lines.append(f"gpucm_http_request_duration_seconds_bucket{labels} {h.count}")
            base = _labels(method=method, route=route)
            lines.append(f"gpucm_http_request_duration_seconds_sum{base} {h.total:.6f}")
            lines.append(f"gpucm_http_request_duration_seconds_count{base} {h.count}")
        lines += [
            "# HELP gpucm_http_rate_limited_total Requests refused by the rate limit.",
            "# TYPE gpucm_http_rate_limited_total counter",
            f"gpucm_http_rate_limited_total {self.rate_limited}",
            "# HELP gpucm_process_start_time_seconds When the server started (Unix time).",
            "# TYPE gpucm_process_start_time_seconds gauge",
            f"gpucm_process_start_time_seconds {self.started:.3f}",
            *market,
        ]
        return "\n".join(lines) + "\n"


def market_lines(
    offer_counts: dict[str, tuple[int, int]],
    health: dict[str, ProviderHealth],
    instances: Counter[str],
    providers: Iterable[str],
) -> list[str]:
    names = sorted(set(providers) | set(offer_counts) | set(health))
    lines = [
        "# HELP gpucm_offers Offers in the store, by provider and availability.",
        "# TYPE gpucm_offers gauge",
    ]
    for name in names:
        total, available = offer_counts.get(name, (0, 0))
        lines.append(f"gpucm_offers{_labels(provider=name, available='true')} {available}")
        lines.append(f"gpucm_offers{_labels(provider=name, available='false')} {total - available}")
    lines += [
        "# HELP gpucm_provider_health The state of each provider's refreshes (1 = current).",
        "# TYPE gpucm_provider_health gauge",
    ]
    for name in names:
        h = health.get(name)
        state = h.status if h else "never"
        for candidate in HEALTH_STATES:
            value = 1 if candidate == state else 0
            lines.append(f"gpucm_provider_health{_labels(provider=name, state=candidate)} {value}")
    lines += [
        "# HELP gpucm_provider_last_success_timestamp_seconds Last good refresh (Unix time).",
        "# TYPE gpucm_provider_last_success_timestamp_seconds gauge",
    ]
    for name in names:
        h = health.get(name)
        if h and h.last_success_at:
            lines.append(
                f"gpucm_provider_last_success_timestamp_seconds{_labels(provider=name)} "
                f"{h.last_success_at.timestamp():.3f}"
            )
    lines += [
        "# HELP gpucm_instances Your instances as last synced, by status.",
        "# TYPE gpucm_instances gauge",
    ]
    for status, n in sorted(instances.items()):
        lines.append(f"gpucm_instances{_labels(status=status)} {n}")
    return lines


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
