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


def test_armed_watches_show_early_enough_for_80_columns() -> None:
    now = utcnow()
    health = {p: ProviderHealth(provider=p, status="ok", last_success_at=now) for p in PROVIDERS}
    text = status_text(
        PROVIDERS, health, now, matching=933, refreshing=set(), demo=True, marked=3, armed=["", ""]
    )
    shown = text.plain[:80]
    assert "2 armed (launch when matched)" in shown
    assert shown.index("933 match") < shown.index("2 armed") < shown.index("3 marked")
    # a team's: whose they are, when not the user's own
    team = status_text(
        PROVIDERS, health, now, matching=9, refreshing=set(), demo=True, armed=["", "bob", "bob"]
    )
    assert "3 armed (2 by bob; launch when matched)" in team.plain[:80]
    none = status_text(PROVIDERS, health, now, matching=933, refreshing=set(), demo=True)
    assert "armed" not in none.plain
