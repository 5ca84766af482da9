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


# Spend is counted by UTC day and UTC calendar month, whatever the local time zone:
# the providers bill in UTC, and a team across zones sees one "today".
def day_start(now: datetime) -> datetime:
    """Midnight UTC that began `now`'s day."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    """Midnight UTC on the first of `now`'s month."""
    return day_start(now).replace(day=1)


def month_end(now: datetime) -> datetime:
    """Midnight UTC on the first of the next month."""
    start = month_start(now)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)
