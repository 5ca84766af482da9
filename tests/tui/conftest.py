"""Fixtures for driving the real app on the demo market, deterministically."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gpucm.services import Services
from gpucm.tui.screenshots import demo_services


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    s = await demo_services()
    yield s
    await s.aclose()
