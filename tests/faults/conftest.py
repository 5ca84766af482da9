"""Reports what the fault suite injected, at the end of the run."""

from __future__ import annotations

import pytest

from tests.faults.harness import STATS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if STATS:
        terminalreporter.section("fault injection")
        for what, count in sorted(STATS.items()):
            terminalreporter.write_line(f"{what}: {count}")
