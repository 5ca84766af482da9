"""`gpucm db`: setting up a team's PostgreSQL store.

    gpucm db init                         # migrations on an empty database, server checked
    gpucm db migrate-from-sqlite PATH     # one user's history and saved state, copied in

The database is --db, DATABASE_URL, GPUCM_DB or database_url in config.toml, as for
every command; it must be a postgresql:// URL here.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gpucm import paths
from gpucm.cli.errors import Parser, UsageError
from gpucm.config_file import read_config
from gpucm.database_url import DatabaseUrl
from gpucm.db_location import store_location


def add_parser(sub: argparse._SubParsersAction[Parser]) -> Parser:
    db = sub.add_parser(
        "db",
        help="set up a team's PostgreSQL store",
        description="Set up a team's shared PostgreSQL store (DATABASE_URL, --db, or "
        "database_url in config.toml).",
    )
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    for name, text in (
        ("init", "run the migrations on the database (empty, or older) and check the server"),
        ("migrate-from-sqlite", "copy one user's history and saved state into the team store"),
    ):
        parser = dsub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        parser.add_argument("--db", metavar="URL", help="the team's postgresql:// URL")
        parser.add_argument("--json", action="store_true", help="print JSON data only")
        if name == "migrate-from-sqlite":
            parser.add_argument("path", metavar="PATH", type=Path, help="the SQLite store")
    return db


def _team_url(ns: argparse.Namespace) -> DatabaseUrl:
    location = store_location(
        ns.db, demo=False, env=os.environ, config=read_config(paths.config_file())
    )
    if not isinstance(location, DatabaseUrl):
        raise UsageError(
            "gpucm db: the store is a SQLite file here; give the team's database with "
            "--db or DATABASE_URL (postgresql://USER:PASSWORD@HOST/DATABASE)"
        )
    return location


async def run(ns: argparse.Namespace) -> int:
    from gpucm.cli.output import print_json  # kept off the parser's imports: --help stays light
    from gpucm.store.pg.admin import copy_from_sqlite, init_database

    url = _team_url(ns)
    if ns.db_command == "init":
        report = await init_database(url)
        if ns.json:
            print_json(report.__dict__)
        else:
            print(
                f"gpucm db init: {report.url}: PostgreSQL {report.server}, schema version "
                f"{report.schema_version}: ready. Put this DATABASE_URL in each user's "
                "config (database_url) and start gpucm-tui or gpucm serve."
            )
        return 0
    added = await copy_from_sqlite(ns.path, url)
    if ns.json:
        print_json(added)
    else:
        parts = ", ".join(f"{n} {table.replace('_', ' ')}" for table, n in added.items() if n)
        print(f"gpucm db migrate-from-sqlite: {ns.path} -> {url}: {parts or 'nothing new'}")
    return 0
