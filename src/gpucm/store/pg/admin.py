"""Setting up a team store: `gpucm db init` and `gpucm db migrate-from-sqlite`."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from gpucm.database_url import DatabaseUrl
from gpucm.domain.clock import utcnow
from gpucm.store.db import StoreError
from gpucm.store.pg.database import PgDatabase
from gpucm.store.pg.schema import LATEST_VERSION
from gpucm.store.pg.team import new_origin, whoami
from gpucm.store.schema import LATEST_VERSION as SQLITE_VERSION


@dataclass(frozen=True)
class InitReport:
    url: str  # masked
    server: str
    schema_version: int


async def init_database(url: DatabaseUrl) -> InitReport:
    """Connect, check the server's version, and run the migrations it has not had."""
    db = await PgDatabase.open(url, utcnow, origin=new_origin(), who=whoami())
    try:
        major, minor = db.server_version
        return InitReport(url.shown, f"{major}.{minor}", LATEST_VERSION)
    finally:
        await db.close()


# What one user's SQLite store brings to the team: its history and its saved state
# (launches and instances, what watches have said). Not the offers, health or the
# demo market's state: the team's refresher keeps those for everyone.
_COPIED: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "price_history",
        (
            "ts", "provider", "gpu_model", "offers", "available",
            "min_gpu_price", "avg_gpu_price", "max_gpu_price",
        ),
    ),
    *(
        (
            table,
            (
                "ts", "provider", "gpu_model", "samples", "offers_sum", "available_sum",
                "min_gpu_price", "price_sum", "price_weight", "max_gpu_price",
            ),
        )
        for table in ("price_history_hourly", "price_history_daily")
    ),
    ("cheapest_hourly", ("ts", "gpu_model", "min_gpu_price")),
    ("cheapest_daily", ("ts", "gpu_model", "min_gpu_price")),
    ("instances", ("id", "provider", "status", "request_id", "updated_at", "data")),
    (
        "launch_journal",
        (
            "request_id", "created_at", "updated_at", "state", "provider", "offer_id",
            "label", "request", "instance_id", "error", "fingerprint", "reserved_per_hour",
        ),
    ),
    ("watch_alerts", ("watch", "channel", "alert_key", "fired_at", "detail")),
    # the ledger's ids are the team store's own (an identity): copied without them
    (
        "spend_intervals",
        (
            "instance_id", "provider", "name", "gpu", "launched_by", "kind",
            "started_at", "ended_at", "rate", "reported",
        ),
    ),
    (
        "bad_hosts",
        (
            "host", "provider", "kind", "reason", "recorded_at", "expires_at",
            "instance_id", "recorded_by",
        ),
    ),
    (
        "armed_watches",
        (
            "owner", "watch", "armed", "query", "conditions", "template", "armed_at",
            "armed_by", "disarmed_at", "disarmed_by", "disarm_reason",
        ),
    ),
)  # fmt: skip


def _read_sqlite(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """The rows to copy, read from the SQLite store (read-only)."""
    if not path.is_file():
        raise StoreError(f"{path}: no such database file")
    try:
        source = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from None
    try:
        version = source.execute("PRAGMA user_version").fetchone()[0]
        if version != SQLITE_VERSION:
            raise StoreError(
                f"{path} has schema version {version}; open it once with this gpucm "
                f"(version {SQLITE_VERSION}) first, e.g. gpucm providers --db {path}"
            )
        return {
            table: source.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
            for table, cols in _COPIED
        }
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a readable gpucm database: {exc}") from None
    finally:
        source.close()


async def copy_from_sqlite(path: Path, url: DatabaseUrl) -> dict[str, int]:
    """Copy one SQLite store's history and saved state into the team store, in one
    transaction; rows the team already has (same key) stay as they are, so a second
    run copies nothing twice. Returns rows added per table."""
    tables = await asyncio.to_thread(_read_sqlite, path)
    db = await PgDatabase.open(url, utcnow, origin=new_origin(), who=whoami())
    added: dict[str, int] = {}
    try:
        async with db.write() as tx:
            for table, cols in _COPIED:
                before = int((await tx.fetch(f"SELECT count(*) FROM {table}"))[0][0])
                rows = tables[table]
                if rows:
                    marks = ",".join("?" * len(cols))
                    await tx.executemany(
                        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
                        " ON CONFLICT DO NOTHING",
                        rows,
                    )
                after = int((await tx.fetch(f"SELECT count(*) FROM {table}"))[0][0])
                added[table] = after - before
            tx.changed("instances")
            tx.changed("launches")
    finally:
        await db.close()
    return added
