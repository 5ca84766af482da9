"""Entry points: `gpucm` (headless) and `gpucm-tui`."""

from __future__ import annotations

import asyncio
import logging
import sys

from gpucm.cli.parser import UsageError, parse_args
from gpucm.config import ConfigError
from gpucm.domain.catalog import CatalogError
from gpucm.store.db import StoreError

log = logging.getLogger("gpucm")


def _setup_logging() -> None:
    # Logs go to stderr at WARNING unless LOG_LEVEL says otherwise; never to stdout,
    # which carries data (JSON/CSV) for scripts.
    import os

    level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.WARNING),
        format="gpucm: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def _run(argv: list[str] | None) -> int:
    from gpucm.cli.commands import COMMANDS
    from gpucm.services import open_services

    ns = parse_args(argv)
    services = await open_services(db=ns.db, demo=ns.demo)
    try:
        return await COMMANDS[ns.command](ns, services)
    finally:
        await services.aclose()


def main(argv: list[str] | None = None) -> int:
    _setup_logging()
    try:
        return asyncio.run(_run(argv))
    except UsageError as exc:
        print(f"gpucm: {exc}" if not str(exc).startswith("gpucm") else str(exc), file=sys.stderr)
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


def tui_main(argv: list[str] | None = None) -> int:
    """Until the TUI lands, `gpucm-tui` shows the demo offers through the headless CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    return main(["offers", *args])


if __name__ == "__main__":
    sys.exit(main())
