"""What the launch tests pass the one launch flow: options and a recording confirmation."""

from __future__ import annotations

from typing import Any

from gpucm.engine.launch_options import LaunchOptions
from gpucm.engine.launcher import Preflight


def opts(request_id: str = "req-1", **kw: Any) -> LaunchOptions:
    return LaunchOptions(request_id=request_id, label=kw.pop("label", "train"), **kw)


class Confirm:
    """Answers every confirmation the same way and keeps each preflight it was shown."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.seen: list[Preflight] = []

    async def __call__(self, pre: Preflight) -> bool:
        self.seen.append(pre)
        return self.answer
