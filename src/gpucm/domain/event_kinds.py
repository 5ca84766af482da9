"""The kinds of events gpucm sends out (engine/events.py; `[events] kinds` in
config.toml)."""

from __future__ import annotations

from typing import Literal, get_args

EventKind = Literal[
    "launch_started",
    "running",
    "launch_failed",
    "interrupted",
    "stopped",
    "terminated",
    "budget_warning",
    "budget_refused",
]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
