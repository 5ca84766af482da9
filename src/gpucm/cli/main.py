"""Entry points: `gpucm` (headless) and `gpucm-tui`.

Imports here stay light (argparse, paths): `gpucm-tui` shows a table before pydantic,
the store and the providers have loaded (tui/boot.py), so those come in inside the
functions that need them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import TYPE_CHECKING

from gpucm import __version__, db_location, paths
from gpucm.cli.errors import Parser, UsageError
from gpucm.config_file import ConfigError, parse_log_level

if TYPE_CHECKING:
    from gpucm.db_location import Location
    from gpucm.services import Services

log = logging.getLogger("gpucm")


def _log_level() -> str:
    """LOG_LEVEL, checked as `gpucm serve` checks it: a typo is refused, not ignored."""
    text = os.environ.get("LOG_LEVEL", "").strip()
    if not text:
        return "WARNING"
    try:
        return parse_log_level(text)
    except ValueError as exc:
        raise UsageError(f"LOG_LEVEL: {exc}") from None


def _setup_logging(*, to_file: bool = False) -> None:
    """CLI logs go to stderr (stdout carries data for scripts); the TUI owns the
    terminal, so its logs go to a file in the log dir. WARNING unless LOG_LEVEL says."""
    level = _log_level()
    handler: logging.Handler
    if to_file:
        log_dir = paths.log_dir()
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_dir / "gpucm-tui.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("gpucm: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; ours say what matters
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _one_line(prog: str, exc: BaseException) -> str:
    text = str(exc)
    return text if text.startswith(prog) else f"{prog}: {text}"


async def _run(argv: list[str] | None) -> int:
    from gpucm.cli.commands import COMMANDS
    from gpucm.cli.parser import parse_args
    from gpucm.services import open_services
    from gpucm.store.damage import store_failure

    ns = parse_args(argv)
    if ns.command == "doctor":  # it opens the file itself: the store may not open
        from gpucm.cli.doctor import cmd_doctor

        return await cmd_doctor(ns)
    if ns.command == "db":  # setting up the store: no services on it yet
        from gpucm.cli.db import run

        return await run(ns)
    # one command, a search or two: building the offer index would cost more than it saves
    services = await open_services(db=ns.db, demo=ns.demo, offer_index=False)
    try:
        return await COMMANDS[ns.command](ns, services)
    except Exception as exc:
        failure = store_failure(exc, services.store.path)
        if failure is None:
            raise
        raise failure from None
    finally:
        await services.aclose()


def main(argv: list[str] | None = None) -> int:
    from gpucm.domain.catalog import CatalogError
    from gpucm.store.db import StoreError

    try:
        _setup_logging()
        return asyncio.run(_run(argv))
    except UsageError as exc:
        print(_one_line("gpucm", exc), file=sys.stderr)
        return 2
    except (ConfigError, CatalogError) as exc:
        print(f"gpucm: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"gpucm: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _tui_parser() -> Parser:
    parser = Parser(
        prog="gpucm-tui",
        description="Find, compare and launch cloud GPUs: the keyboard-driven terminal app. "
        "Without API keys it runs on a built-in demo market.",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="use the demo market even when API keys are set",
    )
    parser.add_argument(
        "--db",
        type=db_location.argument("--db"),
        metavar="PATH|URL",
        help="database file, sqlite:///PATH, or a team's postgresql:// URL "
        "(env DATABASE_URL or GPUCM_DB, or database_url in config.toml)",
    )
    parser.add_argument("--theme", help="theme name (saved for next time)")
    parser.add_argument(
        "--query", "-q", metavar="TEXT", help="start with a text query, e.g. 'gpu=H100 price<3'"
    )
    parser.add_argument(
        "--no-refresh",
        action="store_true",
        help="show what the store holds without refreshing providers",
    )
    parser.add_argument("--version", action="version", version=f"gpucm {__version__}")
    return parser


def tui_main(argv: list[str] | None = None) -> int:
    from gpucm.store.db import StoreError

    try:
        _setup_logging(to_file=True)
        ns = _tui_parser().parse_args(argv)
        query = None
        if ns.query:
            from gpucm.domain.query import QueryError, parse_query

            try:
                query = parse_query(ns.query)
            except QueryError as exc:
                raise UsageError(f"--query: {exc}") from None
        from gpucm.tui.app import GpucmApp, leave
        from gpucm.tui.boot import boot_view

        _reach_team_store(ns.db)

        async def services() -> Services:
            from gpucm.services import open_services

            return await open_services(db=ns.db, demo=ns.demo)

        app = GpucmApp(
            services,
            query=query,
            theme=ns.theme,
            refresh=not ns.no_refresh,
            boot=boot_view(db=ns.db, demo=ns.demo),
            freeze_heap=True,
        )
        app.run()
        code = app.return_code or 0
        if argv is None:  # gpucm-tui itself, not a caller in the same process
            leave(code)
        return code
    except UsageError as exc:
        print(_one_line("gpucm-tui", exc), file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"gpucm-tui: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"gpucm-tui: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _reach_team_store(db: Location | None) -> None:
    """A team's PostgreSQL store that cannot be reached is one line before the screen
    is taken (connecting gives up after a few seconds), not an app that starts and
    stops. A SQLite file needs no such check."""
    from gpucm.config_file import read_config
    from gpucm.database_url import DatabaseUrl
    from gpucm.db_location import store_location

    location = store_location(db, demo=False, config=read_config(paths.config_file()))
    if isinstance(location, DatabaseUrl):
        from gpucm.store.pg.database import reachable

        asyncio.run(reachable(location))


if __name__ == "__main__":
    sys.exit(main())
