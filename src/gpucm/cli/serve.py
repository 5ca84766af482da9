"""`gpucm serve`: the GPU Cloud Manager REST API on this machine.

Safe by default: it listens on 127.0.0.1; any other address needs GPUCM_API_TOKEN,
which every request (but /healthz) must then carry. Importing this module is light
(argparse only: the CLI's parser imports it for every command): the settings, FastAPI
and uvicorn load only when the server starts, and are an optional extra
(`pip install 'gpucm[api]'`).

`python -m gpucm.cli.serve [--host H] [--port P] [--demo]` runs it without the main CLI.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from gpucm import db_location
from gpucm.cli.errors import Parser, UsageError

if TYPE_CHECKING:
    from gpucm.api.api_settings import ApiSettings
    from gpucm.services import Services

DESCRIPTION = (
    "Serve the GPU Cloud Manager REST API (/api/v1: offers, GPU models, providers, "
    "market stats, instances; OpenAPI at /openapi.json) with the refresh and instance "
    "workers running. Listens on 127.0.0.1 unless --host says otherwise, which needs "
    "GPUCM_API_TOKEN. Environment: PORT, ENVIRONMENT, LOG_LEVEL, ENABLE_METRICS, "
    "ENABLE_CORS, CORS_ORIGINS, RATE_LIMIT_ENABLED, RATE_LIMIT_RPM, DATABASE_URL, "
    "GPUCM_API_TOKEN, GPUCM_MAX_BODY_BYTES, GPUCM_INSTANCE_SYNC_INTERVAL, "
    "GPUCM_ALLOWED_HOSTS (Host names served beside loopback's; * any)."
)


def port_number(text: str) -> int:
    if not text.strip().isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        metavar="HOST",
        help="address to listen on (default 127.0.0.1; another needs GPUCM_API_TOKEN)",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        metavar="PORT",
        help="TCP port (default: env PORT, else 8080; 0 picks a free one)",
    )
    store = parser.add_argument_group("store")
    store.add_argument(
        "--db",
        type=db_location.argument("--db/DATABASE_URL"),
        # every command reads DATABASE_URL (gpucm/db_location.py); serve reads it here
        # too, so its errors name the original API's setting as the flag's
        default=os.environ.get("DATABASE_URL") or None,
        metavar="PATH|URL",
        help="database file, sqlite:///PATH or a team's postgresql:// URL (default: env "
        "DATABASE_URL, else GPUCM_DB, else database_url in config.toml, else the data dir)",
    )
    store.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="serve the built-in demo market even when API keys are set",
    )


def add_parser(sub: argparse._SubParsersAction[Parser]) -> Parser:
    serve = sub.add_parser("serve", help="serve the REST API (/api/v1)", description=DESCRIPTION)
    configure(serve)
    return serve


def server_settings(ns: argparse.Namespace) -> ApiSettings:
    """The settings from flags and environment, refusing an exposed server without a token."""
    from gpucm.api.api_settings import ApiSettings, ApiSettingsError

    try:
        settings = ApiSettings.from_env(os.environ, host=ns.host, port=ns.port)
    except ApiSettingsError as exc:
        raise UsageError(f"gpucm serve: {exc}") from None
    if ns.host is not None and not ns.host.strip():
        raise UsageError("gpucm serve: --host is empty")
    problem = settings.exposure_problem()
    if problem:
        raise UsageError(f"gpucm serve: {problem}")
    level = _log_level(ns, settings.log_level)
    return (
        settings
        if level == settings.log_level
        else settings.model_copy(update={"log_level": level})
    )


def _log_level(ns: argparse.Namespace, default: str) -> str:
    """--debug, LOG_LEVEL, the config file's log_level, else the server's INFO: the
    rule every front end follows (gpucm/logs.py)."""
    from gpucm import logs, paths
    from gpucm.config_file import ConfigError, read_config

    try:
        config = read_config(paths.config_file())
    except ConfigError:
        config = {}  # the services report it
    return logs.level_from(os.environ, config, debug=getattr(ns, "debug", False), default=default)


async def cmd_serve(ns: argparse.Namespace, services: Services) -> int:
    from gpucm.store.db import StoreError

    settings = server_settings(ns)
    if services.store.read_only:
        # the workers refresh offers and the API records launches: a server on a file
        # it cannot write would fail at every one of them
        raise StoreError(
            f"the database {services.store.path} is read-only; the server writes to it "
            "(refreshes, launches), so give it a writable file with --db"
        )
    try:
        from gpucm.api.server import run_server
    except ImportError as exc:
        raise UsageError(
            f"gpucm serve needs the api extra (missing {exc.name}): pip install 'gpucm[api]'"
        ) from None
    return await run_server(services, settings)


async def _run(ns: argparse.Namespace) -> int:
    from gpucm.services import open_services
    from gpucm.store.damage import store_failure

    services = await open_services(db=ns.db, demo=ns.demo)
    try:
        return await cmd_serve(ns, services)
    except Exception as exc:
        failure = store_failure(exc, services.store.path)
        if failure is None:
            raise
        raise failure from None
    finally:
        await services.aclose()


def main(argv: list[str] | None = None) -> int:
    from gpucm.config_file import ConfigError
    from gpucm.store.db import StoreError

    try:
        parser = Parser(prog="gpucm serve", description=DESCRIPTION)
        configure(parser)
        ns = parser.parse_args(argv)
        import asyncio

        return asyncio.run(_run(ns))
    except UsageError as exc:
        text = str(exc)
        print(text if text.startswith("gpucm") else f"gpucm serve: {text}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"gpucm serve: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"gpucm serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
