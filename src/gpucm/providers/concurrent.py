"""Requests of one adapter asked at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def gather_or_cancel(*awaitables: Awaitable[Any]) -> list[Any]:
    """The results of `awaitables` run concurrently, in their order.

    The first to fail cancels the others, and its own exception is raised, not an
    ExceptionGroup: callers catch ProviderError. A cancellation from outside cancels
    them all. Either way none is left running when this returns."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
