"""Numbers typed into the TUI's forms and filters: one parser, one set of messages.

The filter builder and the launch form both read what a person typed ("$2/h", "32gb",
"95%", "0.5"): the same rules for blanks, units and bounds, so the same text means
the same number in both places.
"""

from __future__ import annotations

import math

__all__ = ["BID_UNITS", "NumberError", "number_text", "parse_number", "parse_share"]

# What may follow a bid per GPU-hour as typed: "0.3/gpu·h", "0.3/h"
BID_UNITS = ("/gpu·h", "/gpu-h", "/gpuh", "/h")


class NumberError(ValueError):
    """One short line saying what is wrong with a typed number."""


def number_text(value: float | None) -> str:
    """The shortest text that reads back as `value` (blank for None)."""
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _bound(value: float) -> str:
    return number_text(value)


def parse_number(
    text: str,
    *,
    prefix: str = "",
    suffixes: tuple[str, ...] = (),
    integer: bool = False,
    minimum: float = 0.0,
    above_minimum: bool = False,
    maximum: float | None = None,
) -> float | None:
    """The number in `text`, or None for a blank field.

    `prefix` and `suffixes` are units a person may type around it ("$", "/h", "gb"),
    matched without regard to case. The value must be at least `minimum` (more than
    it, with `above_minimum`) and at most `maximum`. Raises NumberError otherwise."""
    shown = text.strip()
    raw = shown.casefold()
    if not raw:
        return None
    if prefix and raw.startswith(prefix):
        raw = raw[len(prefix) :].strip()
    for suffix in suffixes:
        if raw.endswith(suffix):
            raw = raw[: -len(suffix)].strip()
            break
    kind = "a whole number" if integer else "a number"
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        raise NumberError(f"{shown!r} is not {kind}") from None
    if not math.isfinite(value):
        raise NumberError(f"{shown!r} is not {kind}")
    low_ok = value > minimum if above_minimum else value >= minimum
    if low_ok and (maximum is None or value <= maximum):
        return value
    low = f"more than {_bound(minimum)}" if above_minimum else f"{_bound(minimum)}"
    if maximum is None:
        raise NumberError(f"must be {low}" if above_minimum else f"must be {low} or more")
    if above_minimum:
        raise NumberError(f"must be {low} and at most {_bound(maximum)}")
    raise NumberError(f"must be {low} to {_bound(maximum)}")


def parse_share(text: str) -> float | None:
    """A share such as a reliability: 0.95, 95 and 95% all mean 95 % (a value above 1
    is read as a percentage), returned as a fraction."""
    percent = text.strip().endswith("%")
    value = parse_number(text, suffixes=("%",), maximum=100)
    if value is None:
        return None
    return value / 100 if percent or value > 1 else value
