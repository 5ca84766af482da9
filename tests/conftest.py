"""Isolation and determinism for every test: a private GPUCM_HOME, no provider keys
from the developer's environment, no network, and a fixed clock."""

from __future__ import annotations

import os

# Textual reads these at import; unset before anything imports it (research 5.5).
for _var in ("NO_COLOR", "TEXTUAL_THEME", "TEXTUAL_COLOR_SYSTEM", "FORCE_COLOR"):
    os.environ.pop(_var, None)

import logging  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import AsyncIterator, Iterator  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from gpucm.domain.clock import Clock, fixed_clock  # noqa: E402
from gpucm.domain.models import Offer  # noqa: E402
from gpucm.logs import QUIET_LOGGERS  # noqa: E402
from gpucm.services import Services, open_services  # noqa: E402

FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "providers"

_KEY_VARS = (
    "VAST_AI_API_KEY",
    "RUNPOD_API_KEY",
    "LAMBDA_API_KEY",
    "PAPERSPACE_API_KEY",
    "VAST_AI_API_URL",
    "RUNPOD_API_URL",
    "LAMBDA_API_URL",
    "PAPERSPACE_API_URL",
    "GPUCM_DB",
    "DATABASE_URL",
    "LOG_LEVEL",
)


def make_read_only(path: Path) -> None:
    """A file or directory nothing may change: immutable for root (who ignores
    permission bits), else without write permission."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("chattr +i is not available here")
    else:
        path.chmod(0o555 if path.is_dir() else 0o444)


def writable_again(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "gpucm-home"
    monkeypatch.setenv("GPUCM_HOME", str(home))
    for var in _KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)  # CLI tables are 80 wide in a pipe
    return home


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """A test that runs a front end's main() sets up logging for a whole process (root
    handlers and level, the chatty libraries raised to INFO); put it back, so the next
    test sees the logging it would see alone."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, saved in quiet.items():
        logging.getLogger(name).setLevel(saved)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Tests never touch the network; loopback stays open for local test servers."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family == socket.AF_UNIX or host in ("127.0.0.1", "::1", "localhost"):
            return real_connect(self, address)  # type: ignore[arg-type]
        raise RuntimeError(f"test tried to reach the network: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def clock() -> Clock:
    return fixed_clock(FIXED_NOW)


class SteppedClock:
    """A clock the test moves: demo machines boot, prices drift, history grows."""

    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def stepped_clock() -> SteppedClock:
    return SteppedClock()


async def launchable(services: Services, model: str = "RTX 4090", **q: Any) -> Offer:
    """The cheapest available offer of a model that the demo will not refuse."""
    from gpucm.domain.models import SearchQuery
    from gpucm.providers.demo_instances import fails_for_capacity

    page = await services.store.search(SearchQuery(gpu_models=(model,), limit=200, **q))
    for offer in page.offers:
        if not fails_for_capacity(offer.id):
            return offer
    raise AssertionError("no launchable offer")


@pytest.fixture
async def stepped_market(stepped_clock: SteppedClock) -> AsyncIterator[Services]:
    """The demo market after one refresh, on `stepped_clock`."""
    s = await open_services(demo=True, clock=stepped_clock)
    await s.refresh()
    yield s
    await s.aclose()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.db"


# -- the two store backends ------------------------------------------------------------
#
# A test that takes `backend` runs once per store backend: SQLite, and PostgreSQL on
# the throwaway server `make test` and CI start (tests/postgres.py). tests/store,
# tests/engine and tests/api make `db_path` (and the demo services) depend on it, so
# their tests run on both; `@pytest.mark.sqlite_only` keeps one on SQLite alone.

BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("backend", ["sqlite"] if only else list(BACKENDS), indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL store URL on a fresh schema of the test server."""
    from tests.postgres import fresh_schema

    async for url in fresh_schema():
        yield url


@pytest.fixture
async def store_location(backend: str, tmp_path: Path) -> AsyncIterator[Path | str]:
    """Where a test's store lives: a SQLite file, or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield tmp_path / "test.db"
        return
    from tests.postgres import fresh_schema

    async for url in fresh_schema():
        yield url


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.postgres import SKIP_REASON

    skipped = [
        r for r in terminalreporter.stats.get("skipped", []) if SKIP_REASON in str(r.longrepr)
    ]
    if skipped:
        terminalreporter.write_line(
            f"PostgreSQL: {len(skipped)} tests of the team store were skipped ({SKIP_REASON})",
            yellow=True,
        )
