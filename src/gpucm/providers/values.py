"""Reading the values of a provider's JSON, with one set of rules for every adapter.

Every value a provider sends may be null, of another type than documented, or text
meant for a terminal. The readers here return a usable value or None, never raise:

- `number`: a finite float from a JSON number or a numeric string; booleans, NaN,
  infinities and anything else are None. `nonneg` also refuses negatives, `whole`
  anything not integral.
- `text`: a string as one line of plain text. Terminal escape sequences (colours,
  cursor moves, window titles) are removed whole; every other control character
  (C0 such as BEL, DEL, C1, and the bidirectional overrides that reorder what a
  terminal shows) is removed; whitespace runs become one space; it is cut at
  `MAX_TEXT` characters. An empty result is None.

Provider text is data: it is cleaned here, once, where an offer or instance is
parsed, so no front end ever prints a provider's escape sequence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

# Longer provider strings are not names or statuses: cut, so one bad row cannot carry
# megabytes into the store.
MAX_TEXT: Final = 1000

# ESC [ ... final (CSI), ESC ] ... BEL or ESC \ (OSC), ESC P/X/^/_ ... ESC \ (DCS and
# the other string controls), then any other two-character ESC sequence; the C1 CSI
# (0x9b) too. Removed whole: "\x1b[31mRTX" is "RTX", not "[31mRTX".
_ESCAPES: Final = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -~]?"
)
# Whitespace controls become spaces (they separate words); the rest go.
_SPACES: Final = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]")
_CONTROLS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain(value: str) -> str:
    """`value` without terminal escapes and control characters, each line break or tab
    a space; unlike `clean`, its spaces are kept as they are (text being typed into)."""
    # Most strings are plain: isprintable() is one C-level pass.
    if value.isprintable():
        return value
    return _CONTROLS.sub("", _SPACES.sub(" ", _ESCAPES.sub("", value)))


def clean(value: str, limit: int = MAX_TEXT) -> str:
    """`value` as one line of plain text (see the module docstring); may be ''."""
    value = plain(value)
    if "  " in value or value[:1].isspace() or value[-1:].isspace():
        value = " ".join(value.split())
    return value[:limit]


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A non-empty cleaned string, or None for anything else."""
    if not isinstance(value, str):
        return None
    return clean(value, limit) or None


def number(value: Any) -> float | None:
    """A finite number from a JSON number or numeric string, else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:  # an int too large for a float
            return None
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def nonneg(value: Any) -> float | None:
    """`number`, but None for a negative value as well."""
    result = number(value)
    return result if result is not None and result >= 0 else None


def whole(value: Any) -> int | None:
    """An integral `number` as an int (2, 2.0 and "2" are 2), else None."""
    result = number(value)
    if result is None or not result.is_integer():
        return None
    return int(result)


def scaled(value: float | None, factor: float, places: int) -> float | None:
    """value x factor, rounded; None when unknown or too large to be a number."""
    if value is None:
        return None
    result = value * factor
    return round(result, places) if math.isfinite(result) else None


def obj(value: Any) -> Mapping[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def kind(value: Any) -> str:
    """What a JSON value is, for a message: 'null', 'a list', 'a string', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def slug(value: str) -> str:
    """Letters and digits joined by dashes, lower case: offer ids that are easy to copy
    and type ("NVIDIA GeForce RTX 4090" -> "nvidia-geforce-rtx-4090")."""
    return "-".join("".join(c if c.isalnum() else " " for c in value.lower()).split())
