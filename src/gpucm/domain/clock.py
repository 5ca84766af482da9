"""Time as a service: every layer asks an injected clock, so tests can pin it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    if at.tzinfo is None:
        raise ValueError("fixed_clock needs an aware datetime")
    return lambda: at


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
