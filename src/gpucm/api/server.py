"""Running the API: uvicorn on the current event loop, the background workers beside
it, logs scrubbed of secrets, and a clean stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Generator, Iterator

import uvicorn
from starlette.types import ASGIApp

from gpucm.api.api_settings import ApiSettings
from gpucm.api.app import create_app
from gpucm.api.envelope import scrub
from gpucm.api.workers import background_workers
from gpucm.services import Services

log = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
LOG_FORMAT = "gpucm: %(levelname)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats like the handler's own formatter, then removes every secret: the whole
    line, tracebacks included."""

    def __init__(self, inner: logging.Formatter | None, secrets: Callable[[], list[str]]):
        super().__init__()
        self._inner = inner or logging.Formatter(LOG_FORMAT)
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return scrub(self._inner.format(record), self._secrets())


@contextlib.contextmanager
def server_logging(level: str, secrets: Callable[[], list[str]]) -> Iterator[None]:
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    saved = [(h, h.formatter) for h in root.handlers]
    saved_level = root.level
    httpx_logger = logging.getLogger("httpx")
    saved_httpx = httpx_logger.level
    for handler, formatter in saved:
        handler.setFormatter(RedactingFormatter(formatter, secrets))
    root.setLevel(level)
    # httpx logs request URLs at INFO, and some providers take the key in the query
    httpx_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for handler, formatter in saved:
            handler.setFormatter(formatter)
        root.setLevel(saved_level)
        httpx_logger.setLevel(saved_httpx)


class Server(uvicorn.Server):
    """uvicorn's server, told when it listens, and without re-raising the signal that
    stopped it: gpucm stops its workers and closes the store itself, then exits 0."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[str, int], None]) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            address = self.servers[0].sockets[0].getsockname()
            self._on_listening(str(address[0]), int(address[1]))


def uvicorn_config(
    app: ASGIApp, settings: ApiSettings, *, access_log: bool = True
) -> uvicorn.Config:
    """How gpucm runs uvicorn (the load benchmark's bare endpoint runs the same)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=access_log,
        proxy_headers=False,  # the rate limit keys on the socket's address, never a header
        server_header=False,
        lifespan="off",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=10,
    )


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def run_server(
    services: Services,
    settings: ApiSettings,
    *,
    on_listening: Callable[[str], None] | None = None,
) -> int:
    """Serve until stopped: 0 after a clean stop, 1 if the address cannot be used."""
    app = create_app(services, settings)
    context = app.state.context

    def listening(host: str, port: int) -> None:
        market = (
            "the demo market (simulated offers)"
            if services.demo
            else ("providers: " + (", ".join(services.provider_names()) or "none configured"))
        )
        token = "required" if settings.token else "not required (this machine only)"
        line = (
            f"gpucm serve: listening on {url(host, port)} with {market}; API token {token}; "
            f"OpenAPI at {url(host, port)}/openapi.json"
        )
        (on_listening or _stderr)(line)

    server = Server(uvicorn_config(app, settings), listening)
    with server_logging(settings.log_level, context.secrets), _switch_interval(SWITCH_INTERVAL):
        if services.demo:
            await services.ensure_data()  # instant, and the first request sees a market
        async with background_workers(services, sync_interval=settings.instance_sync_interval):
            try:
                await server.serve()
            except SystemExit:
                # uvicorn exits when it cannot bind; it has logged why
                if server.started:
                    raise
                _stderr(
                    f"gpucm serve: cannot listen on {url(settings.host, settings.port)} "
                    "(in use, or not an address of this machine)"
                )
                return 1
    return 0


# How long a thread holding the GIL keeps it while another waits (Python's default is
# 5 ms). The server's event loop shares the GIL with the threads that search (the
# store's reader, a long list's term expansion, an index build): at 1 ms the loop gets
# it back five times as often, so a request that is only waiting to be answered (a
# /healthz beside the largest search) is not held behind another's CPU work.
SWITCH_INTERVAL = 0.001


@contextlib.contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(saved)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
