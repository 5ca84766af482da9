"""The status bar's text: what matters most first, since a narrow terminal cuts the end."""

from __future__ import annotations

from datetime import timedelta

from gpucm.domain.clock import utcnow
from gpucm.domain.models import ProviderHealth
from gpucm.tui.widgets.status_bar import status_text

PROVIDERS = ["vast_ai", "runpod", "lambda_labs", "paperspace"]


def test_in_a_team_who_refreshes_shows_on_an_80_column_terminal() -> None:
    now = utcnow()
    health = {
        p: ProviderHealth(provider=p, status="ok", last_success_at=now - timedelta(seconds=12))
        for p in PROVIDERS
    }
    text = status_text(
        PROVIDERS, health, now, matching=933, refreshing=set(), demo=True, refresher="bob@jb-2"
    )
    shown = text.plain[:80]
    assert "refreshed by bob@jb-2 12s" in shown
    assert shown.index("refreshed by") < shown.index("Vast.ai")
    alone = status_text(PROVIDERS, health, now, matching=933, refreshing=set(), demo=True)
    assert "refreshed by" not in alone.plain
    assert alone.plain.index("Vast.ai") < alone.plain.index("Paperspace")
