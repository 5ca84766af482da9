"""A process for the crash tests to kill: `python -m tests.crash.crash_worker MODE DB`.

snapshots: replaces vast_ai's offers with snapshot a, b, a, ... (N offers each, ids
  tagged by snapshot), printing "begin K" before and "end K" after each replace.
launch: launches an RTX 4090 on the demo market under request id "crash-1" and dies
  (SIGKILL, no cleanup) right after the provider created the instance, before the
  journal records it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from gpucm.domain.clock import fixed_clock
from gpucm.domain.models import Offer, SearchQuery
from gpucm.engine.launcher import Launcher, LaunchOptions
from gpucm.providers.demo_instances import fails_for_capacity
from gpucm.services import open_services
from gpucm.store.store import Store
from tests.conftest import FIXED_NOW
from tests.offer_factory import make_offer

SNAPSHOT_SIZE = 20_000
REQUEST_ID = "crash-1"


def snapshot(tag: str, n: int = SNAPSHOT_SIZE) -> list[Offer]:
    base = make_offer("vast_ai", "0")
    price = 1.0 if tag == "a" else 2.0
    return [
        base.model_copy(
            update={
                "id": f"vast_ai:{tag}-{i}",
                "provider_id": f"{tag}-{i}",
                "price_per_hour": price,
                "price_per_gpu_hour": price,
            }
        )
        for i in range(n)
    ]


async def write_snapshots(db: Path) -> None:
    store = await Store.open(db, clock=fixed_clock(FIXED_NOW))
    snaps = {"a": snapshot("a"), "b": snapshot("b")}
    k = 0
    while True:
        tag = "ab"[k % 2]
        print(f"begin {k} {tag}", flush=True)
        await store.replace_offers("vast_ai", snaps[tag])
        print(f"end {k} {tag}", flush=True)
        k += 1


async def launch_and_die(db: Path) -> None:
    services = await open_services(db=db, demo=True)
    await services.ensure_data()
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=200))
    offer = next(o for o in page.offers if not fails_for_capacity(o.id))

    async def die(self: Launcher, *args: object, **kwargs: object) -> None:
        print(f"created {offer.id}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    Launcher._done = die  # type: ignore[assignment,method-assign]
    options = LaunchOptions(request_id=REQUEST_ID, label="train")
    await services.launcher.launch(await services.launcher.preflight(offer, options), options)


def main() -> None:
    mode, db = sys.argv[1], Path(sys.argv[2])
    if mode == "snapshots":
        asyncio.run(write_snapshots(db))
    elif mode == "launch":
        asyncio.run(launch_and_die(db))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
