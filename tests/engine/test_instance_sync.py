"""The instance sync across providers: one provider's failure is its own, and a
cancelled sync leaves nothing of itself running."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import utcnow
from gpucm.domain.models import Instance
from gpucm.engine.instances import InstanceManager
from gpucm.engine.ports import EnginePorts


class Control:
    """A provider whose instance list never comes; cancelled, it takes `unwind` loop
    turns to let go, as a store write rolling back does."""

    def __init__(self, unwind: int = 0, error: Exception | None = None) -> None:
        self.unwind = unwind
        self.error = error
        self.started = asyncio.Event()
        self.unwound = False

    async def list_instances(self) -> list[Instance]:
        self.started.set()
        if self.error is not None:
            raise self.error
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            for _ in range(self.unwind):
                await asyncio.sleep(0)
            self.unwound = True
            raise
        return []


class Listing(Control):
    """A provider that answers at once, with no instances."""

    async def list_instances(self) -> list[Instance]:
        return []


class Instances:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.replaced: list[str] = []

    async def replace_provider(self, provider: str, instances: list[Instance]) -> None:
        if self.error is not None:
            raise self.error
        self.replaced.append(provider)


def manager(controls: dict[str, Control], instances: Instances | None = None) -> InstanceManager:
    ports: Any = EnginePorts(
        store=SimpleNamespace(instances=instances or Instances()),  # type: ignore[arg-type]
        providers=SimpleNamespace(  # type: ignore[arg-type]
            provider_names=lambda: list(controls),
            is_active=controls.__contains__,
            control=controls.__getitem__,
        ),
        settings=lambda: SimpleNamespace(secrets=lambda: ["sekrit-key"]),  # type: ignore[arg-type,return-value]
        catalog=Catalog.builtin,
        clock=utcnow,
    )
    return InstanceManager(ports)


async def test_a_cancelled_sync_waits_for_every_provider_to_let_go() -> None:
    quick, slow = Control(unwind=0), Control(unwind=5)
    sync = asyncio.create_task(manager({"vastai": quick, "runpod": slow}).sync())
    await asyncio.wait_for(asyncio.gather(quick.started.wait(), slow.started.wait()), 5)
    sync.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sync
    assert quick.unwound and slow.unwound
    assert asyncio.all_tasks() == {asyncio.current_task()}  # nothing left running


async def test_one_provider_failing_is_reported_and_the_others_sync() -> None:
    store = Instances()
    broken = Control(error=RuntimeError("401 for key sekrit-key"))
    outcomes = await manager({"vastai": broken, "runpod": Listing()}, store).sync()
    assert [(o.provider, o.ok) for o in outcomes] == [("vastai", False), ("runpod", True)]
    assert outcomes[0].error is not None and "sekrit-key" not in outcomes[0].error
    assert store.replaced == ["runpod"]


async def test_a_store_failure_reaches_the_caller_as_itself_and_stops_the_other_syncs() -> None:
    hanging = Control(unwind=3)
    store = Instances(error=OSError("disk full"))
    with pytest.raises(OSError, match="disk full"):
        await manager({"vastai": Listing(), "runpod": hanging}, store).sync()
    assert hanging.unwound
