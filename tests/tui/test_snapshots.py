"""SVG snapshots of every screen at 120x40 and 80x24, on the seeded demo market with a
fixed clock: the same scenarios `make screenshots` draws for the README. Review a change
in snapshot_report.html; accept it with `make snapshot-update`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from gpucm.tui.app import GpucmApp
from gpucm.tui.screenshots import SCENARIOS, Scenario, play

SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_screen(snap_compare: SnapCompare, scenario: Scenario) -> None:
    # snap_compare runs the app on an event loop of its own: the services are opened
    # inside that loop, by the factory
    app = GpucmApp(scenario.services(), refresh=False, cursor_blink=False, theme=scenario.theme)

    async def before(pilot: Pilot[None]) -> None:
        await play(pilot, scenario)

    assert snap_compare(app, terminal_size=scenario.size, run_before=before)
