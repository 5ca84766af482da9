"""Text helpers every TUI screen shares: one-line messages and secrets kept off the
screen.

Provider names on screen always come from `gpucm.domain.provider_names.display_name`
(one spelling everywhere), never from a table of the TUI's own.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpucm.providers.errors import redact

__all__ = ["clean", "one_line", "plural"]


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line (runs of whitespace, newlines included, become one space),
    cut to `limit` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def clean(text: str, secrets: Iterable[str | None]) -> str:
    """A message fit for the screen: one line, with every configured secret masked
    (a provider's error may echo the API key it was sent)."""
    return redact(one_line(text), secrets)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
