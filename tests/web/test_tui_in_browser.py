"""`gpucm-tui --serve` in a real browser (headless Chromium): the DEMO table renders,
a typed query changes it, and a server with a token asks for it before anything runs.
The HTTP-level checks (no browser) cover what a browser would not show: the websocket
refused without the token, a foreign Host, a cross-site websocket."""

from __future__ import annotations

import asyncio
import http.client
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import aiohttp
import pytest

from tests.web.browser import (
    TUI,
    chromium,
    market_painted,
    matches,
    offer_rows,
    page_text_within,
    require_browser,
    tui_env,
    tui_server,
    type_keys,
    wait_for,
)

TOKEN = "browser-token-0123456789abcdef"
ENTER = "\ue007"  # Selenium's Keys.ENTER


def test_the_demo_table_renders_and_a_typed_query_changes_it(tmp_path: Path) -> None:
    require_browser()
    with tui_server(tmp_path / "home", "--demo") as served, chromium() as browser:
        browser.get(served.url)
        before = wait_for(browser, market_painted, "the DEMO market's table")
        everything = matches(before)
        assert everything is not None and everything > 100
        assert any("H100" not in row for row in offer_rows(before)), (
            "the cheapest rows are not H100s"
        )

        type_keys(browser, "/")
        time.sleep(1)  # the query input takes the focus
        type_keys(browser, "gpu=H100" + ENTER)

        def filtered(lines: list[str]) -> bool:
            rows = offer_rows(lines)
            count = matches(lines)
            return (
                count is not None
                and 0 < count < everything
                and len(rows) >= 3
                and all("H100" in row for row in rows)
            )

        after = wait_for(browser, filtered, "the table filtered to H100 offers")
        assert any("gpu=H100" in line for line in after), "the query shows in its input"


def test_a_server_with_a_token_asks_for_it_in_the_browser(tmp_path: Path) -> None:
    require_browser()
    env = {"GPUCM_API_TOKEN": TOKEN}
    with tui_server(tmp_path / "home", "--demo", env=env) as served, chromium() as browser:
        browser.get(served.url)
        field = browser.find_element("css selector", "input[name=token]")
        assert browser.execute_script("return window.__gpucmTerminal === undefined")
        field.send_keys("not-the-token-at-all" + ENTER)
        page_text_within(browser, "That is not the token")
        browser.find_element("css selector", "input[name=token]").send_keys(TOKEN + ENTER)
        wait_for(browser, market_painted, "the DEMO market after giving the token")
        # the cookie proves the token without holding it
        cookies = {c["name"]: c for c in browser.get_cookies()}
        session = cookies["gpucm_session"]
        assert TOKEN not in session["value"] and session["httpOnly"]
        assert session["sameSite"] == "Strict"


def _get(url: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    return conn.getresponse()


async def _websocket_status(url: str, headers: dict[str, str]) -> int:
    ws_url = url.replace("http://", "ws://") + "ws?width=80&height=24"
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(ws_url, headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def test_without_the_token_nothing_runs_and_no_websocket_opens(tmp_path: Path) -> None:
    with tui_server(tmp_path / "home", "--demo", env={"GPUCM_API_TOKEN": TOKEN}) as served:
        url = served.url
        page = _get(url, "/")
        assert page.status == 401
        body = page.read().decode()
        assert 'name="token"' in body and TOKEN not in body
        assert page.getheader("X-Frame-Options") == "DENY"
        static = _get(url, "/static/js/textual.js")
        assert static.status == 401
        origin = url.rstrip("/")
        assert asyncio.run(_websocket_status(url, {"Origin": origin})) == 401
        bad = {"Origin": origin, "Authorization": "Bearer wrong-token-0123456789"}
        assert asyncio.run(_websocket_status(url, bad)) == 401
        assert served.sessions() == [], "an app started before the token was checked"
        # a link carrying the token: a cookie, and the token out of the address bar
        link = _get(url, "/?token=" + TOKEN)
        assert link.status == 303 and link.getheader("Location") == "/"
        cookie = link.getheader("Set-Cookie") or ""
        assert "gpucm_session=" in cookie and "HttpOnly" in cookie and TOKEN not in cookie
        good = {"Origin": origin, "Cookie": cookie.split(";")[0]}
        assert asyncio.run(_websocket_status(url, good)) == 101
        bearer = {"Origin": origin, "Authorization": f"Bearer {TOKEN}"}
        assert asyncio.run(_websocket_status(url, bearer)) == 101


def test_another_site_gets_nothing(tmp_path: Path) -> None:
    with tui_server(tmp_path / "home", "--demo") as served:
        url = served.url
        rebound = _get(url, "/", {"Host": "attacker.example:8000"})
        assert rebound.status == 400
        origin = url.rstrip("/")
        assert asyncio.run(_websocket_status(url, {"Origin": "http://attacker.example"})) == 403
        assert asyncio.run(_websocket_status(url, {"Origin": origin})) == 101
        page = _get(url, "/")
        assert page.status == 200
        assert page.getheader("Content-Security-Policy") == "frame-ancestors 'none'"
        text = page.read().decode()
        assert f'data-session-websocket-url="{origin.replace("http", "ws")}/ws"' in text
        assert "googleapis" not in text  # the page loads nothing from elsewhere


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--host", "0.0.0.0"], {}, "refusing to listen on 0.0.0.0"),
        (["--host", "0.0.0.0"], {"GPUCM_API_TOKEN": "short"}, "GPUCM_API_TOKEN: "),
        (["--host", ""], {}, "--host is empty"),
        (["--port", "99999"], {}, "expected a port from 0 to 65535"),
    ],
)
def test_an_exposed_or_bad_address_is_refused_in_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", TUI, "--serve", *args],
        env=tui_env(tmp_path / "home", env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "short" not in proc.stderr.replace("GPUCM_API_TOKEN", "")


def test_host_and_port_need_serve(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", TUI, "--port", "8000"],
        env=tui_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "gpucm-tui: --host and --port need --serve"
