"""Screens of gpucm-tui on the seeded demo market, for `make screenshots` and the SVG
snapshot tests: one list of scenarios, so the README's pictures and the snapshots are
the same screens.

    python -m gpucm.tui.screenshots [OUT_DIR]
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from textual.app import App
from textual.pilot import Pilot
from textual.worker import Worker

from gpucm.domain.clock import fixed_clock
from gpucm.services import Services, open_services

SCREENSHOT_TIME = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


# narrow the table to an offer the demo market launches (not one of its "no capacity"
# ones) before pressing L
RTX_4090 = ("slash", *'gpu="RTX 4090"', "enter")
LAMBDA = ("slash", *"provider=lambda gpu=A10", "enter")


@dataclass(frozen=True)
class Scenario:
    name: str
    size: tuple[int, int]
    keys: tuple[str, ...] = ()
    theme: str | None = None
    caption: str = ""
    # days of 12-hourly refreshes before the clock's fixed time: the market screens'
    # trends need a history to draw
    history_days: int = 0

    def services(self) -> Callable[[], Awaitable[Services]]:
        """The app's services factory for this scenario (opened on the app's loop)."""
        return partial(demo_services, history_days=self.history_days)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("main-120x40", (120, 40), caption="The main screen at 120x40"),
    Scenario("main-80x24", (80, 24), caption="The same at 80x24: panes open on demand"),
    Scenario(
        "sorted-marked-120x40",
        (120, 40),
        ("s", "j", "space", "j", "j", "space"),
        caption="Sorted by $/GPU·h (s), two offers marked (space)",
    ),
    Scenario(
        "query-120x40",
        (120, 40),
        ("slash", *"gpu=H100,A100 count>=2 region=US sort=value", "enter"),
        caption="A text query, reflected in the filter builder",
    ),
    Scenario(
        "query-80x24",
        (80, 24),
        ("slash", *"gpu=H100,A100 count>=2 region=US sort=value", "enter"),
    ),
    Scenario(
        "query-error-80x24",
        (80, 24),
        ("slash", *"price<<2 gpu=H100", "enter"),
        caption="A bad query: one line naming the bad token; nothing changes",
    ),
    Scenario("filters-80x24", (80, 24), ("f",), caption="The filter builder (f) at 80x24"),
    Scenario("detail-pane-80x24", (80, 24), ("d",), caption="Model detail (d) at 80x24"),
    Scenario("charts-80x24", (80, 24), ("d", "d"), caption="Market charts (d d) at 80x24"),
    Scenario(
        "detail-120x40", (120, 40), ("j", "j", "enter"), caption="Everything about an offer (enter)"
    ),
    Scenario("detail-80x24", (80, 24), ("j", "j", "enter")),
    Scenario(
        "compare-120x40",
        (120, 40),
        ("space", "j", "space", "G", "space", "c"),
        caption="Marked offers side by side (c), best in each row highlighted",
    ),
    Scenario("compare-80x24", (80, 24), ("space", "j", "space", "G", "space", "c")),
    Scenario(
        "launch-form-120x40",
        (120, 40),
        (*RTX_4090, "L"),
        caption="The launch form (L): image, environment (values masked), ports, guards",
    ),
    Scenario(
        "launch-form-80x24",
        (80, 24),
        (*LAMBDA, "L"),
        caption="Lambda Cloud runs VMs: what it cannot honour is disabled, with a note",
    ),
    Scenario(
        "launch-confirm-120x40",
        (120, 40),
        (*RTX_4090, "L", "enter"),
        caption="The confirmation: all-in $/h (storage estimated), cost, warnings",
    ),
    Scenario(
        "instances-120x40",
        (120, 40),
        (*RTX_4090, "L", "enter", "enter"),
        caption="Launched: the instance manager (i), spend on top",
    ),
    Scenario("instances-80x24", (80, 24), (*RTX_4090, "L", "enter", "enter")),
    Scenario(
        "market-120x40",
        (120, 40),
        ("m",),
        caption="Market stats (m): percentiles per model, 7-day trend from your refreshes",
        history_days=7,
    ),
    Scenario("market-80x24", (80, 24), ("m",), history_days=7),
    Scenario(
        "market-distribution-120x40",
        (120, 40),
        ("m", "j", "j", "t", "t"),
        caption="The price distribution of a model (t cycles the charts)",
        history_days=7,
    ),
    Scenario(
        "best-offers-120x40",
        (120, 40),
        ("m", "j", "j", "enter"),
        caption="Cheapest equivalent at each provider, all-in, cost for a day",
        history_days=7,
    ),
    Scenario(
        "watch-80x24",
        (80, 24),
        (*RTX_4090, "ctrl+p", *"Watch this", "wait", "enter"),
        caption="ctrl+p, Watch this filter: alerts on a price, a count or a new provider,"
        " or a snipe that launches",
    ),
    Scenario(
        "watch-snipe-80x24",
        (80, 24),
        (
            *RTX_4090,
            *("ctrl+p", *"Watch this", "wait", "enter", *"snipe", "tab", "tab", "tab", "tab"),
            *("space", "tab", *"0.45", "tab", "backspace", "2", "tab", *"pytorch/pytorch"),
            *("tab", *"80", "tab", "tab", "tab", "tab", "space", "tab", *"0.3", "enter"),
        ),
        caption="A snipe: its launch template, and the confirmation that says all of it"
        " before it is armed",
    ),
    Scenario("help-120x40", (120, 40), ("question_mark",), caption="Help (?)"),
    Scenario("help-80x24", (80, 24), ("question_mark",)),
    Scenario("theme-light", (120, 40), theme="gpucm-light", caption="gpucm-light"),
    Scenario(
        "theme-high-contrast", (120, 40), theme="gpucm-high-contrast", caption="gpucm-high-contrast"
    ),
    Scenario(
        "theme-ansi",
        (120, 40),
        theme="gpucm-ansi",
        caption="gpucm-ansi, for 16-colour terminals over SSH",
    ),
)


async def demo_services(refreshes: int = 2, history_days: int = 0) -> Services:
    """The seeded demo market after `refreshes` rounds (two give price moves and new
    offers to mark), on a fixed clock, in the current GPUCM_HOME; with `history_days`,
    after a refresh every 12 hours over those days first."""
    history = [
        SCREENSHOT_TIME - timedelta(hours=12 * step) for step in range(2 * history_days, 0, -1)
    ]
    if not history:
        services = await open_services(demo=True, clock=fixed_clock(SCREENSHOT_TIME))
    else:
        at = [history[0]]  # the clock the refreshes below step forward
        services = await open_services(demo=True, clock=lambda: at[0])
        for at[0] in history:
            await services.refresh()
        at[0] = SCREENSHOT_TIME
    for _ in range(refreshes):
        await services.refresh()
    return services


async def workers_done(app: App[None]) -> None:
    """Wait until the app's workers are done, or wait for the user: a launch flow
    waiting on its confirmation's question is idle, not busy. A worker cancelled by a
    newer one is done too."""
    for _ in range(3000):  # a minute: a worker still busy then is left to the caller
        if not any(not w.is_finished and not _asks_user(app, w) for w in app.workers):
            return
        await asyncio.sleep(0.02)


def _asks_user(app: App[None], worker: Worker[object]) -> bool:
    from gpucm.tui.screens.launch_form import LAUNCH_FLOW

    return worker.group == LAUNCH_FLOW and any(
        getattr(screen, "asking", False) for screen in app.screen_stack
    )


async def settle(pilot: Pilot[None]) -> None:
    """Let data land: pages load in workers; detail and charts wait ~100 ms."""
    from gpucm.tui.widgets.model_detail import ModelDetail

    for _ in range(3):
        await workers_done(pilot.app)
        await pilot.pause(0.15)
    # A pane reads when it comes into view, and on a loaded machine its Show can land
    # after the workers were counted: the picture then had the pane's empty text.
    for _ in range(100):
        if all(d.settled for d in pilot.app.screen.query(ModelDetail)):
            break
        await workers_done(pilot.app)
        await pilot.pause(0.05)


def snapshot_request_ids() -> Callable[[], str]:
    """Launch request ids in a fixed sequence: instance names and ids derive from them."""
    count = itertools.count(1)
    return lambda: f"snapshot-{next(count):04d}"


async def play(pilot: Pilot[None], scenario: Scenario) -> None:
    if hasattr(pilot.app, "request_ids"):
        pilot.app.request_ids = snapshot_request_ids()
    await settle(pilot)
    keys = list(scenario.keys)
    while keys:
        # "wait": let the command palette search before the next key
        chunk = keys[: keys.index("wait")] if "wait" in keys else keys
        keys = keys[len(chunk) + 1 :] if "wait" in keys else []
        await pilot.press(*chunk)
        await settle(pilot)
    # a toast lives for a few seconds of wall time: whether it is still up at the
    # capture depends on the machine's speed, so pictures are taken without any
    pilot.app.clear_notifications()
    await pilot.pause()


async def _capture(scenario: Scenario, out_dir: Path) -> Path:
    from gpucm.tui.app import GpucmApp

    app = GpucmApp(scenario.services(), refresh=False, cursor_blink=False, theme=scenario.theme)
    path = out_dir / f"{scenario.name}.svg"
    async with app.run_test(size=scenario.size) as pilot:
        await play(pilot, scenario)
        path.write_text(app.export_screenshot(title=f"gpucm — {scenario.name}"))
    return path


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0] if argv else "screenshots")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        # a private, empty home: the user's config, keys and themes never show
        os.environ["GPUCM_HOME"] = home
        for var in ("NO_COLOR", "TEXTUAL_THEME", "GPUCM_DB", "DATABASE_URL"):
            os.environ.pop(var, None)
        for scenario in SCENARIOS:
            for db in Path(home).glob("data/*"):
                db.unlink()
            path = asyncio.run(_capture(scenario, out_dir))
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
