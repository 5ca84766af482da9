"""Snapshots must not depend on the developer's terminal settings: NO_COLOR and
TEXTUAL_THEME in the environment change nothing (research/probe-report.md 5.5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_snapshots_pass_with_no_color_and_a_textual_theme_set() -> None:
    env = {**os.environ, "NO_COLOR": "1", "TEXTUAL_THEME": "nord", "COLUMNS": "50"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/tui/test_snapshots.py",
            "-k",
            "main-120x40 or theme-ansi",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 snapshots passed" in proc.stdout
