"""Durations as people type them on a command line: 90m, 24h, 7d, 2w."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
# Longer spans mean nothing here (the price history starts with the first refresh),
# and far longer ones overflow the datetimes they are subtracted from.
MAX_DURATION = timedelta(days=100 * 365)


def parse_duration(text: str) -> timedelta:
    """'90m', '24h', '7d', '2w' -> timedelta; ValueError with a usable message."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"invalid duration {text!r}: use a number and m, h, d or w (e.g. 7d)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"invalid duration {text!r}: at most {MAX_DURATION.days}d (100 years)")
    return timedelta(seconds=seconds)
