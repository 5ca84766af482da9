"""Checks on text that comes from outside — command-line arguments, files, request
bodies — before anything stores, prints or sends it.

Python hands over undecodable bytes in arguments as lone surrogates (surrogateescape),
and JSON can spell a lone surrogate (`"\\ud800"`). Such a string travels fine until it
is encoded: in SQLite, a file, a terminal or a response, far from where it came in and
after work has begun (a `filters.tmp` left behind). So it is refused where it enters,
with a line naming where. Standard library only: the CLI's parser uses this.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


class InputError(ValueError):
    """Text that cannot be taken; the message says why (never the text itself)."""


def text_problem(text: str) -> str | None:
    """Why this text cannot be taken, or None: it holds a byte that is not UTF-8 (an
    argument's surrogateescape) or a lone surrogate (from JSON)."""
    match = _SURROGATE.search(text)
    if match is None:
        return None
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"not valid UTF-8 (byte 0x{code - 0xDC00:02x} at character {match.start() + 1})"
    return f"not valid text (a lone surrogate \\u{code:04x} at character {match.start() + 1})"


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key)
            yield from _strings(item, where)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def json_text_problem(value: Any) -> str | None:
    """The first string (or key) in a decoded JSON value that cannot be taken, as
    `where: why`; None when every one is fine."""
    for where, text in _strings(value, ""):
        problem = text_problem(text)
        if problem:
            shown = _SURROGATE.sub("?", where) or "body"
            return f"{shown}: {problem}"
    return None


def parse_json(text: str) -> Any:
    """JSON from outside: InputError (one line) for a syntax error, nesting too deep
    for the parser (thousands of levels), or a string that is not valid text."""
    import json  # here: every command line's check imports this module, few parse JSON

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputError("nested too deeply (thousands of levels)") from None
    problem = json_text_problem(value)
    if problem:
        raise InputError(problem)
    return value
