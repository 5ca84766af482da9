"""The status bar: each provider's data age and health, and how many offers match."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from gpucm import formatting as fmt
from gpucm.domain.models import ProviderHealth
from gpucm.domain.provider_names import display_name

_MARKS = {"ok": "●", "failing": "▲", "circuit_open": "✖", "stale": "▲", "never": "○"}


def status_text(
    providers: list[str],
    health: dict[str, ProviderHealth],
    now: datetime,
    *,
    matching: int | None,
    refreshing: set[str],
    demo: bool,
    marked: int = 0,
    refresher: str | None = None,
    armed: Sequence[str] = (),
) -> Text:
    """Plain text with styles by class name, built without markup so provider error
    strings can never restyle or crash the bar. What matters most comes first (a
    narrow terminal cuts the end): DEMO, the match count, armed watches (snipes:
    they launch without asking when they match; `armed`: each one's owner, "" for
    the user's own, so a team's show whose they are), the marks, in a team who refreshes
    for everyone (`refresher`, user@host) and when, then the providers."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if demo:
        text.append(" DEMO ", "status--demo")
        text.append(" ")
    if matching is not None:
        text.append(f"{matching:,} match", "status--count")
        text.append("  ")
    if armed:
        text.append(f"{len(armed)} armed", "status--armed")
        others = [o for o in armed if o]
        if others:
            text.append(f" ({len(others)} by {', '.join(sorted(set(others)))};")
            text.append(" launch when matched)  ")
        else:
            text.append(" (launch when matched)  ")
    if marked:
        text.append(f"{marked} marked", "status--marked")
        text.append(" (c compare, u unmark)  " if 2 <= marked <= 6 else " (u unmark)  ")
    if refresher is not None:
        newest = max(
            (h.last_success_at for h in health.values() if h.last_success_at), default=None
        )
        text.append(f"refreshed by {refresher} {fmt.age(newest, now)}", "status--age")
        text.append("  ")
    for name in providers:
        h = health.get(name)
        status = h.status if h else "never"
        short = display_name(name)
        if name in refreshing:
            text.append("↻ ", "status--busy")
        else:
            text.append(_MARKS.get(status, "?") + " ", f"status--{status}")
        text.append(short)
        age = fmt.age(h.last_success_at if h else None, now)
        text.append(f" {age}", "status--age" if status == "ok" else f"status--{status}")
        text.append("  ")
    text.rstrip()
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def show(
        self,
        providers: list[str],
        health: dict[str, ProviderHealth],
        now: datetime,
        *,
        matching: int | None,
        refreshing: set[str],
        demo: bool,
        marked: int = 0,
        refresher: str | None = None,
        armed: Sequence[str] = (),
    ) -> None:
        text = status_text(
            providers,
            health,
            now,
            matching=matching,
            refreshing=refreshing,
            demo=demo,
            marked=marked,
            refresher=refresher,
            armed=armed,
        )
        self.update(self._styled(text))

    def _styled(self, text: Text) -> Text:
        """Class names become styles from the stylesheet (theme variables)."""
        styled = text.copy()
        styled.spans = []
        for span in text.spans:
            style = span.style
            if isinstance(style, str) and style.startswith("status--"):
                style = self.get_component_rich_style(style)
            styled.spans.append(span._replace(style=style))
        return styled

    COMPONENT_CLASSES = {  # noqa: RUF012 - Textual's own declaration style
        "status--demo",
        "status--busy",
        "status--ok",
        "status--failing",
        "status--circuit_open",
        "status--stale",
        "status--never",
        "status--age",
        "status--count",
        "status--marked",
        "status--armed",
    }
