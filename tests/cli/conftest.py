"""A pinned clock for CLI runs: every command opens its services on it."""

from __future__ import annotations

from typing import Any

import pytest

from gpucm import services as services_module
from gpucm.services import Services
from tests.conftest import SteppedClock as Clock


@pytest.fixture
def cli_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Every CLI run in the test opens its services on this clock (open_services is
    looked up when each command runs)."""
    clock = Clock()
    real = services_module.open_services

    async def opened(**kw: Any) -> Services:
        return await real(**{**kw, "clock": clock})

    monkeypatch.setattr(services_module, "open_services", opened)
    return clock
