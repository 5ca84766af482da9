"""`gpucm doctor`: check the database, and with confirmation set a broken one aside
(kept, under a name the output gives) so gpucm starts on a fresh one.

It opens the file itself, read-only: the store would refuse a file this damaged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from gpucm import paths
from gpucm.cli.errors import UsageError
from gpucm.config_file import configured_providers, read_config
from gpucm.db_location import store_location
from gpucm.domain.clock import utcnow
from gpucm.store.doctor import Diagnosis, diagnose, move_aside


def database_path(ns: argparse.Namespace) -> Path:
    """The file the other commands would open, decided the way they decide it."""
    config = read_config(paths.config_file())
    demo = ns.demo
    if demo is None:
        demo = not configured_providers(os.environ, config)
    location = store_location(ns.db, demo=demo, env=os.environ, config=config)
    if not isinstance(location, Path):
        raise UsageError(
            f"gpucm doctor checks a SQLite file; the store is the team's PostgreSQL "
            f"database {location} (gpucm db init checks the server and its schema)"
        )
    return location


def report(diagnosis: Diagnosis) -> None:
    print(f"database: {diagnosis.path}")
    for check in diagnosis.checks:
        status = "note" if check.note else "ok" if check.ok else "FAIL"
        print(f"  {check.name:<16} {status:<4}  {check.detail}")


def _confirmed(path: Path) -> bool:
    if not sys.stdin.isatty():
        return False
    print(
        f"Move {path} aside (it is kept, renamed) and start a fresh database? "
        "Close gpucm-tui and gpucm serve if they use it. [y/N] ",
        end="",
        file=sys.stderr,
        flush=True,
    )
    try:
        return input().strip().lower() in ("y", "yes")
    except EOFError:
        return False


async def cmd_doctor(ns: argparse.Namespace) -> int:
    path = database_path(ns)
    if not path.exists():
        print(f"database: {path}\n  no database there yet: nothing to check")
        return 0
    diagnosis = await asyncio.to_thread(diagnose, path)
    report(diagnosis)
    if diagnosis.healthy:
        print("The database is healthy.")
        return 0
    print("The database is damaged or holds data gpucm cannot read.", file=sys.stderr)
    if not ns.yes and not _confirmed(path):
        print(
            "Nothing was changed. `gpucm doctor --yes` moves it aside (kept, renamed) and "
            "starts a fresh one.",
            file=sys.stderr,
        )
        return 1
    try:
        kept = move_aside(path, utcnow())
    except OSError as exc:
        raise UsageError(f"cannot move {path} aside: {exc.strerror}") from None
    from gpucm.store.store import Store  # a fresh file, at the current schema

    store = await Store.open(path)
    await store.close()
    print(f"Moved the old database to {kept} (kept: nothing in it is deleted).")
    print(
        f"A fresh database is at {path}; `gpucm refresh` fills it with offers. Machines "
        "you launched keep running at their providers."
    )
    return 0
