"""Armed watches in the store (store/armed_watches.py), on both backends: one row per
owner and watch; arming again replaces the stamp; a disarm with the stamp it fired
leaves a newer arming armed; an old file's arming never re-arms one the store has at
that time or later; a second process on the same database sees every change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpucm.store.store import Store

TEMPLATE = {"max_price_per_hour": 0.5, "env": ["HF_TOKEN"]}


def armed(owner: str, watch: str, stamp: str, **kw: Any) -> dict[str, Any]:
    return {
        "owner": owner,
        "watch": watch,
        "armed": stamp,
        "query": 'gpu="RTX 4090"',
        "conditions": {"price_at_or_under": 0.4},
        "template": TEMPLATE,
        "by": f"{owner}@jb",
        **kw,
    }


async def test_armings_per_owner_replaced_disarmed_and_forgotten(db_path: Path | str) -> None:
    store = await Store.open(db_path)
    other = await Store.open(db_path)  # another process on the same database
    try:
        table = store.armed
        assert await table.arm(**armed("bob", "snipe", "2026-12-07T10:00:00"))
        assert await table.arm(**armed("alice", "snipe", "2026-12-07T11:00:00"))
        rows = await other.armed.list(armed_only=True)
        assert [(r.owner, r.watch) for r in rows] == [("bob", "snipe"), ("alice", "snipe")]
        bob = rows[0]
        assert bob.template == TEMPLATE and bob.conditions == {"price_at_or_under": 0.4}
        assert bob.armed_by == "bob@jb" and bob.is_armed

        # a disarm of an older arming leaves the newer one armed
        assert await table.arm(**armed("bob", "snipe", "2026-12-07T12:00:00"))
        assert not await other.armed.disarm(
            "bob", "snipe", by="alice@jb", reason="launched", was="2026-12-07T10:00:00"
        )
        assert await table.is_armed("bob", "snipe", "2026-12-07T12:00:00")
        assert not await table.is_armed("bob", "snipe", "2026-12-07T10:00:00")
        assert await other.armed.disarm(
            "bob", "snipe", by="alice@jb", reason="launched", was="2026-12-07T12:00:00"
        )
        row = await table.get("bob", "snipe")
        assert row is not None and not row.is_armed and row.disarmed_at is not None
        assert (row.disarmed_by, row.disarm_reason) == ("alice@jb", "launched")
        assert not await table.disarm("bob", "snipe", by="bob@jb", reason="manual")  # was not

        # an old file's arming: not over the same or a later one, fired or not
        old = armed("bob", "snipe", "2026-12-07T12:00:00", only_if_newer=True)
        assert not await table.arm(**old)
        assert not await table.arm(**{**old, "armed": "2026-12-07T09:00:00"})
        assert not (await table.get("bob", "snipe") or row).is_armed
        assert await table.arm(**{**old, "armed": "2026-12-07T13:00:00"})
        assert await table.is_armed("bob", "snipe", "2026-12-07T13:00:00")

        assert await other.armed.forget("bob", "snipe")
        assert [r.owner for r in await table.list()] == ["alice"]
        assert await table.get("bob", "snipe") is None
    finally:
        await other.close()
        await store.close()
