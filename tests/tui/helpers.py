"""Pilot helpers the TUI tests share."""

from __future__ import annotations

from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Static

from gpucm.domain.models import Offer
from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.help import HelpScreen
from gpucm.tui.screens.launch_form import LaunchScreen
from gpucm.tui.screenshots import workers_done


async def settle(pilot: Pilot[None]) -> None:
    """Let keys, workers and the messages they post all land."""
    for _ in range(3):
        await pilot.pause()
        await workers_done(pilot.app)
    await pilot.pause()


def record_notes(app: GpucmApp, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every notification the app shows from now on, as text."""
    notes: list[str] = []
    original = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        notes.append(str(message))
        original(message, *args, **kwargs)

    monkeypatch.setattr(app, "notify", notify)
    return notes


async def open_form(pilot: Pilot[None], services: Services, offer: Offer) -> LaunchScreen:
    """The launch form for `offer`, over the settled main screen."""
    await settle(pilot)
    form = LaunchScreen(services, offer)
    await pilot.app.push_screen(form)
    await settle(pilot)
    return form


async def palette_settled(palette: CommandPalette, pilot: Pilot[None]) -> CommandList:
    """Wait for the palette's search worker and its auto-selected top hit, polling
    rather than sleeping a fixed time so a loaded machine does not make it flaky."""
    await palette.app.workers.wait_for_complete()
    options = palette.query_one(CommandList)
    for _ in range(200):
        if options.option_count and options.highlighted is not None:
            return options
        await pilot.pause(0.025)
    raise AssertionError("the palette never highlighted a hit")


def help_rows(app: GpucmApp) -> dict[str, str]:
    """The help in front, as its rows: keys as shown -> what they do."""
    screen = app.screen
    assert isinstance(screen, HelpScreen), screen
    keys = [str(w.content) for w in screen.query(".help--key").results(Static)]
    what = [str(w.content) for w in screen.query(".help--what").results(Static)]
    return dict(zip(keys, what, strict=True))
