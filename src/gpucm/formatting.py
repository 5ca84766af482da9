"""Human formatting shared by the CLI and the TUI (no IO, no textual)."""

from __future__ import annotations

from datetime import datetime, timedelta


def price(value: float | None) -> str:
    """$0.115 stays $0.115: cheap GPUs differ in the third decimal."""
    if value is None:
        return "-"
    if value < 1:
        return f"${value:.3f}"
    if value < 1000:
        return f"${value:.2f}"
    return f"${value:,.0f}"


def bid(value: float | None) -> str:
    """A bid per GPU-hour as sent, to a hundredth of a cent: $0.281, $0.0525, $1.50."""
    if value is None:
        return "-"
    text = f"{value:.4f}".rstrip("0")
    decimals = len(text.partition(".")[2])
    return "$" + (text + "0" * (2 - decimals) if decimals < 2 else text)


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def gigabytes(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.1f}T"
    return f"{value:.0f}G"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def speed(mbps: float | None) -> str:
    if mbps is None:
        return "-"
    if mbps >= 1000:
        return f"{mbps / 1000:.1f}G"
    return f"{mbps:.0f}M"


def value_per_point(value: float | None) -> str:
    """Dollars per hour per performance point, shown in thousandths of a cent's scale."""
    return "-" if value is None else f"{value * 1000:.2f}"


def age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def duration(delta: timedelta | float | None) -> str:
    if delta is None:
        return "-"
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m"
