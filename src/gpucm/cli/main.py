"""Entry points: `gpucm` (headless) and `gpucm-tui`.

Start-up is part of the interface. `gpucm --help`, `--version` and a typo's one line
come from argparse before pydantic, the store or the providers load, and each command
imports what it uses when it runs (`make bench` times both against bare Python;
tests/cli/test_startup.py keeps the light path light). `gpucm-tui` shows a table
before pydantic, the store and the providers have loaded (tui/boot.py).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gpucm import __version__
from gpucm.cli.errors import Parser, UsageError
from gpucm.config_file import ConfigError

if TYPE_CHECKING:
    import argparse

    from gpucm.db_location import Location
    from gpucm.services import Services

log = logging.getLogger("gpucm.cli")


def setup_logging(*, debug: bool, log_file: Path | None, default_file: Path | None = None) -> None:
    """Logging as every front end does it (gpucm/logs.py): the level from --debug,
    LOG_LEVEL or the config file's log_level; lines to `log_file`, else `default_file`,
    else stderr; no secret in any line."""
    from gpucm import logs, paths
    from gpucm.config_file import read_config

    try:
        config = read_config(paths.config_file())
    except ConfigError:
        config = {}  # the command reports a broken file when it loads its settings
    logs.configure(
        logs.level_from(os.environ, config, debug=debug),
        secrets=logs.secrets_from(os.environ, config),
        log_file=log_file or default_file,
    )


def _one_line(prog: str, exc: BaseException) -> str:
    text = str(exc)
    return text if text.startswith(prog) else f"{prog}: {text}"


def _said(prog: str, exc: Exception) -> int | None:
    """A failure the user can act on, said in one line: its exit status; None for a
    bug, which the caller raises again."""
    if isinstance(exc, UsageError):
        print(_one_line(prog, exc), file=sys.stderr)
        return 2
    if isinstance(exc, ConfigError):
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    status = _failure_status(exc)
    if status is not None:
        print(f"{prog}: {exc}", file=sys.stderr)
    return status


def _failure_status(exc: Exception) -> int | None:
    """The exit status of a failure the user can act on, or None for a bug. The modules
    that define them are looked up, not imported: an error of a kind can only have
    been raised if its module has loaded."""
    catalog = sys.modules.get("gpucm.domain.catalog")
    if catalog is not None and isinstance(exc, catalog.CatalogError):
        return 2
    store = sys.modules.get("gpucm.store.db")
    if store is not None and isinstance(exc, store.StoreError):
        return 1
    return None


async def _run(ns: argparse.Namespace) -> int:
    if ns.command == "doctor":  # it opens the file itself: the store may not open
        from gpucm.cli.doctor import cmd_doctor

        return await cmd_doctor(ns)
    if ns.command == "db":  # setting up the store: no services on it yet
        from gpucm.cli.db import run as run_db

        return await run_db(ns)
    from gpucm.cli.commands import COMMANDS
    from gpucm.services import open_services
    from gpucm.store.damage import store_failure

    run = COMMANDS[ns.command]
    # one command, a search or two: building the offer index would cost more than it saves
    services = await open_services(db=ns.db, demo=ns.demo, offer_index=False)
    market = "demo market" if services.demo else "providers' market"
    log.debug("%s on %s (%s), gpucm %s", ns.command, services.store.path, market, __version__)
    started = time.perf_counter()
    try:
        status = await run(ns, services)
        log.debug("%s: exit %d after %.0f ms", ns.command, status, _ms_since(started))
        return status
    except Exception as exc:
        failure = store_failure(exc, services.store.path)
        if failure is None:
            raise
        raise failure from None
    finally:
        await services.aclose()


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def main(argv: list[str] | None = None) -> int:
    try:
        from gpucm.cli.parser import parse_args

        ns = parse_args(argv)
        if ns.command == "completion":
            from gpucm.cli.completion import completion_script

            sys.stdout.write(completion_script(ns.shell))
            return 0
        if ns.command == "paths":
            from gpucm.cli.paths_command import cmd_paths

            return cmd_paths(ns)
        setup_logging(debug=ns.debug, log_file=ns.log_file)
        import asyncio

        return asyncio.run(_run(ns))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        status = _said("gpucm", exc)
        if status is None:
            raise
        return status


def _tui_parser() -> Parser:
    import argparse

    from gpucm import db_location
    from gpucm.cli import help_text
    from gpucm.cli.parser import add_logging_flags
    from gpucm.cli.serve import port_number

    parser = Parser(
        prog="gpucm-tui",
        description=help_text.wrap(
            "Find, compare and launch cloud GPUs: the keyboard-driven terminal app. Without "
            "API keys it runs on a built-in demo market (labelled DEMO). With --serve it "
            "serves the same app to web browsers."
        ),
        epilog_text=help_text.tui_epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    add_logging_flags(parser, default_log="gpucm-tui.log in the log dir; stderr with --serve")
    serve = parser.add_argument_group("in a web browser")
    serve.add_argument(
        "--serve",
        action="store_true",
        help="serve the app over HTTP: each browser tab that opens the page runs its own "
        "session (textual-serve)",
    )
    serve.add_argument(
        "--host",
        metavar="HOST",
        help="with --serve: address to listen on (default 127.0.0.1; another needs "
        "GPUCM_API_TOKEN, which the browser is then asked for)",
    )
    serve.add_argument(
        "--port",
        type=port_number,
        metavar="PORT",
        help="with --serve: TCP port (default 8000; 0 picks a free one)",
    )
    return parser


def tui_main(argv: list[str] | None = None) -> int:
    try:
        ns = _tui_parser().parse_args(argv)
        if ns.serve:
            from gpucm.cli.tui_serve import serve_tui

            setup_logging(debug=ns.debug, log_file=ns.log_file)
            return serve_tui(ns)
        if ns.host is not None or ns.port is not None:
            raise UsageError("--host and --port need --serve")
        from gpucm import logs, paths

        setup_logging(
            debug=ns.debug,
            log_file=ns.log_file,
            default_file=paths.log_dir() / logs.TUI_LOG_NAME,
        )
        query = None
        if ns.query:
            from gpucm.domain.query import QueryError, parse_query

            try:
                query = parse_query(ns.query)
            except QueryError as exc:
                raise UsageError(f"--query: {exc}") from None
        from gpucm.tui.app import GpucmApp, leave
        from gpucm.tui.boot import boot_view, config_keymap

        _reach_team_store(ns.db)

        async def services() -> Services:
            from gpucm.services import open_services

            return await open_services(db=ns.db, demo=ns.demo)

        view = boot_view(db=ns.db, demo=ns.demo)  # a bad [keymap] entry stops here
        app = GpucmApp(
            services,
            query=query,
            theme=ns.theme,
            refresh=not ns.no_refresh,
            boot=view,
            # a team's PostgreSQL store has no BootView; its keymap is read on its own
            keymap=view.keymap if view is not None else config_keymap(),
            freeze_heap=True,
        )
        app.run()
        code = app.return_code or 0
        if argv is None:  # gpucm-tui itself, not a caller in the same process
            leave(code)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        status = _said("gpucm-tui", exc)
        if status is None:
            raise
        return status


def _reach_team_store(db: Location | None) -> None:
    """A team's PostgreSQL store that cannot be reached is one line before the screen
    is taken (connecting gives up after a few seconds), not an app that starts and
    stops. A SQLite file needs no such check."""
    import asyncio

    from gpucm import paths
    from gpucm.config_file import read_config
    from gpucm.database_url import DatabaseUrl
    from gpucm.db_location import store_location

    location = store_location(db, demo=False, config=read_config(paths.config_file()))
    if isinstance(location, DatabaseUrl):
        from gpucm.store.pg.database import reachable

        asyncio.run(reachable(location))


if __name__ == "__main__":
    sys.exit(main())
