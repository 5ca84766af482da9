"""`gpucm-tui --serve`: the same app in a web browser, through textual-serve.

Each browser tab that opens the page starts its own `gpucm-tui` process (with the
same flags: --demo, --db, --query, ...), which textual-serve drives over a websocket
and draws with xterm.js. The rules are `gpucm serve`'s:

- It listens on 127.0.0.1 unless --host says otherwise, and any other address needs
  GPUCM_API_TOKEN. With a token set, nothing is served without it: the page asks for
  it once (a form; `?token=` or an `Authorization: Bearer` header work too) and sets
  a session cookie (HttpOnly, SameSite=Strict) that the websocket then carries. The
  cookie holds an HMAC of the token, never the token. No app process starts, and no
  websocket is accepted, before the token has been checked.
- The Host header must name this server (a page that rebinds its own hostname to
  127.0.0.1 is refused), a websocket must come from this server's own page (its
  Origin), and no other site may frame the page (it takes keystrokes that launch
  machines).

The page is gpucm's own, not textual-serve's, so it loads nothing from elsewhere
(textual-serve's asks Google for a font): its script and stylesheet and the font come
from textual-serve's static files. Needs the `web` extra (`pip install 'gpucm[web]'`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import html
import logging
import os
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from gpucm.cli.errors import UsageError

if TYPE_CHECKING:
    from aiohttp import web

    from gpucm.api.api_settings import ApiSettings

log = logging.getLogger(__name__)

DEFAULT_PORT = 8000
COOKIE = "gpucm_session"
LOGIN_PATH = "/login"
WEBSOCKET_PATH = "/ws"
# On every answer: no other site may frame the page (a framed app could be fed clicks
# and keys), and no address (which may carry ?token=) is sent to another site as a
# Referer. (`no-referrer` would also make the browser send `Origin: null` with the
# token form, which the same-site check must refuse.)
SAFETY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def guard_settings(ns: argparse.Namespace, env: dict[str, str]) -> ApiSettings:
    """The host, port and token as `gpucm serve` reads them, refusing an exposed server
    without a token."""
    from gpucm.api.api_settings import ApiSettings, ApiSettingsError

    if ns.host is not None and not ns.host.strip():
        raise UsageError("gpucm-tui: --host is empty")
    try:
        settings = ApiSettings.from_env(
            env,
            host=ns.host,
            port=DEFAULT_PORT if ns.port is None else ns.port,
            only=("api_token", "allowed_hosts"),
        )
    except ApiSettingsError as exc:
        raise UsageError(f"gpucm-tui --serve: {exc}") from None
    problem = settings.exposure_problem()
    if problem:
        raise UsageError(f"gpucm-tui --serve: {problem}")
    return settings


def app_command(ns: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each browser session: this gpucm-tui
    with the same flags, less the serving ones."""
    args: list[str] = []
    if ns.demo:
        args.append("--demo")
    if ns.db is not None:
        args += ["--db", str(ns.db)]
    if ns.theme:
        args += ["--theme", ns.theme]
    if ns.query:
        args += ["--query", ns.query]
    if ns.no_refresh:
        args.append("--no-refresh")
    if ns.debug:
        args.append("--debug")
    if ns.log_file is not None:
        args += ["--log-file", str(ns.log_file)]
    code = "import sys; from gpucm.cli.main import tui_main; sys.exit(tui_main())"
    return shlex.join([sys.executable, "-c", code, *args])


def session_value(token: str) -> str:
    """What the session cookie holds: proof of the token, from which it cannot be read."""
    return hmac.new(token.encode(), b"gpucm-tui --serve session", hashlib.sha256).hexdigest()


class Guard:
    """The checks before any handler runs (an aiohttp middleware)."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.token = settings.token
        self._session = session_value(self.token) if self.token else None

    def authorized(self, request: web.Request) -> bool:
        """The session cookie, or the token itself in a header (a script)."""
        if self._session is None:
            return True
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self._session.encode()):
            return True
        given = _presented(request)
        return given is not None and self._matches(given)

    def same_site(self, request: web.Request) -> bool:
        from gpucm.api.api_settings import origin_key

        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser: the token (when set) is what decides
        key = origin_key(origin)
        scheme = "https" if request.secure else "http"
        return key is not None and key == origin_key(f"{scheme}://{request.host}")

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await self._answer(request, handler)
        if not response.prepared:
            response.headers.update(SAFETY_HEADERS)
        return response

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        from aiohttp import web

        if not self.settings.host_allowed(request.headers.get("Host")):
            return web.Response(
                status=400,
                text="host not allowed (this server answers to localhost, 127.0.0.1 and "
                "[::1]; GPUCM_ALLOWED_HOSTS adds names)\n",
            )
        if request.path in (WEBSOCKET_PATH, LOGIN_PATH) and not self.same_site(request):
            return web.Response(status=403, text="cross-site request refused\n")
        if self.token is None:
            return await handler(request)
        if request.path == LOGIN_PATH:
            return await self._login(request)
        query_token = request.query.get("token")
        if request.path == "/" and query_token is not None:
            # a link carrying the token: set the cookie and take the token out of the
            # address bar (and the browser's history)
            return self._signed_in() if self._matches(query_token) else _login_page(wrong=True)
        if self.authorized(request):
            return await handler(request)
        if request.path == "/":
            return _login_page(wrong=False)
        return web.Response(
            status=401,
            text="the API token is needed (GPUCM_API_TOKEN): open / and give it\n",
            headers={"WWW-Authenticate": 'Bearer realm="gpucm"'},
        )

    def _matches(self, given: str) -> bool:
        from gpucm.api.api_settings import token_matches

        return self.token is not None and token_matches(given, self.token)

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return _login_page(wrong=False)
        form = await request.post()
        given = form.get("token")
        if isinstance(given, str) and self._matches(given.strip()):
            return self._signed_in()
        return _login_page(wrong=True)

    def _signed_in(self) -> web.StreamResponse:
        from aiohttp import web

        assert self._session is not None
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(COOKIE, self._session, httponly=True, samesite="Strict", path="/")
        return response


def _presented(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get("X-API-Key", "").strip()
    return key or None


_LOGIN = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>gpucm: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ background: #0c181f; color: #e6edf3; font-family: monospace; display: flex;
  align-items: center; justify-content: center; height: 100vh; margin: 0; }}
form {{ background: #12232d; padding: 2em; }}
input, button {{ font: inherit; padding: .4em; margin-top: .6em; }}
.wrong {{ color: #ff7b72; }}
</style></head>
<body><form method="post" action="{action}">
<div>gpucm-tui: this server needs its API token (GPUCM_API_TOKEN).</div>
{wrong}
<div><input type="password" name="token" autocomplete="current-password"
  autofocus aria-label="API token" placeholder="API token">
<button type="submit">Open</button></div>
</form></body></html>
"""


def _login_page(*, wrong: bool) -> web.Response:
    from aiohttp import web

    note = '<div class="wrong" role="alert">That is not the token.</div>' if wrong else ""
    return web.Response(
        status=401,
        text=_LOGIN.format(action=LOGIN_PATH, wrong=note),
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/css/xterm.css">
<script src="/static/js/textual.js"></script>
<style>
@font-face {{ font-family: "Roboto Mono"; font-style: normal;
  src: url("/static/fonts/RobotoMono-VariableFont_wght.ttf"); }}
@font-face {{ font-family: "Roboto Mono"; font-style: italic;
  src: url("/static/fonts/RobotoMono-Italic-VariableFont_wght.ttf"); }}
body {{ background: #0c181f; margin: 0; }}
#start {{ display: none; }}
.ended {{ display: none; position: absolute; inset: 0; z-index: 10; align-items: center;
  justify-content: center; flex-direction: column; color: #e6edf3; font-family: monospace;
  background: #0c181fe6; }}
body.-closed .ended {{ display: flex; }}
.ended button {{ font: inherit; padding: .5em 2em; margin: 1em; }}
</style></head>
<body>
<div class="ended"><div>The gpucm session has ended.</div>
<button type="button" onclick="window.location.reload()">Start a new one</button></div>
<div id="terminal" class="textual-terminal" data-session-websocket-url="{websocket}"
  data-font-size="{font_size}"></div>
</body></html>
"""


def _font_size(text: str | None) -> int:
    try:
        return max(6, min(int(text or "16"), 48))
    except ValueError:
        return 16


async def index(request: web.Request) -> web.Response:
    from aiohttp import web

    scheme = "wss" if request.secure else "ws"
    # the Host was checked by the guard: the page's own address, however it was reached
    websocket = f"{scheme}://{request.host}{WEBSOCKET_PATH}"
    page = _PAGE.format(
        title="gpucm",
        websocket=html.escape(websocket, quote=True),
        font_size=_font_size(request.query.get("fontsize")),
    )
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


def make_app(command: str, settings: ApiSettings) -> web.Application:
    from aiohttp import web
    from textual_serve.server import Server

    server = Server(command, host=settings.host, port=settings.port, title="gpucm")
    guard = Guard(settings)

    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await guard(request, handler)

    app = web.Application(middlewares=[guarded])
    app.add_routes(
        [
            web.get("/", index),
            web.get(LOGIN_PATH, index),  # the guard answers it when a token is set
            web.post(LOGIN_PATH, index),
            web.get(WEBSOCKET_PATH, server.handle_websocket),
            web.get("/download/{key}", server.handle_download),
            web.static("/static", server.statics_path),
        ]
    )
    return app


def url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


async def run(app: web.Application, settings: ApiSettings, *, demo: bool) -> int:
    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as exc:
            print(
                f"gpucm-tui --serve: cannot listen on {url(settings.host, settings.port)} "
                f"({exc.strerror or 'in use, or not an address of this machine'})",
                file=sys.stderr,
            )
            return 1
        host, port = runner.addresses[0][:2]
        token = "API token needed" if settings.token else "this machine only"
        market = "demo market; " if demo else ""
        # two lines that fit 80 columns: the address to copy, then what to expect
        print(
            f"gpucm-tui --serve: serving on {url(str(host), int(port))} ({token})\n"
            f"{market}each browser tab runs its own gpucm-tui; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    finally:
        # closes every websocket: each session's app is told to quit
        with contextlib.suppress(asyncio.CancelledError):
            await runner.cleanup()
    return 0


def serve_tui(ns: argparse.Namespace) -> int:
    settings = guard_settings(ns, dict(os.environ))
    try:
        import aiohttp  # noqa: F401
        import textual_serve  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"gpucm-tui --serve needs the web extra (missing {exc.name}): pip install 'gpucm[web]'"
        ) from None
    app = make_app(app_command(ns), settings)
    return asyncio.run(run(app, settings, demo=_demo(ns)))


def _demo(ns: argparse.Namespace) -> bool:
    """Whether the sessions will run on the demo market, decided as they decide it."""
    from gpucm import paths
    from gpucm.config_file import ConfigError, configured_providers, read_config

    if ns.demo is not None:
        return bool(ns.demo)
    try:
        return not configured_providers(os.environ, read_config(paths.config_file()))
    except ConfigError:
        return False
