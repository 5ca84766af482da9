"""A real browser on `gpucm-tui --serve`: Debian's headless Chromium, driven through
Debian's chromedriver (the same version, from the same source package) by Selenium.
Nothing is downloaded: the driver's path is given, so Selenium Manager never runs.

The page draws the terminal on a canvas (xterm.js with its WebGL/canvas renderer), so
the screen is read from xterm's own buffer: a script installed before the page's own
catches the Terminal object as textual-serve's page stores it (`this.terminal = ...`)
and the test reads each line through xterm's public buffer API.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# As root on this machine: no sandbox; and nothing that reaches out on its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
TUI = "import sys; from gpucm.cli.main import tui_main; sys.exit(tui_main())"
SERVING = re.compile(r"serving on (http://\S+/)")
MATCHES = re.compile(r"(\d+) match")

# Runs before the page's scripts: the first object given a `terminal` property that
# is an xterm Terminal (it has a buffer) is kept as window.__gpucmTerminal.
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  set(value) {
    Object.defineProperty(this, 'terminal',
      {value: value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer && value.buffer.active && !window.__gpucmTerminal) {
      window.__gpucmTerminal = value;
    }
  },
});
"""
READ_SCREEN = """
const t = window.__gpucmTerminal;
if (!t) return null;
const buffer = t.buffer.active;
const lines = [];
for (let y = 0; y < t.rows; y++) {
  const line = buffer.getLine(buffer.viewportY + y);
  lines.push(line ? line.translateToString(true) : '');
}
return {cols: t.cols, rows: t.rows, lines: lines};
"""


def require_browser() -> None:
    """Skip where no Chromium is installed, but never in CI: there a missing browser is
    a failure (.ci/run installs it)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return
    message = f"missing {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def tui_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_API_URL"))
        and k not in ("GPUCM_API_TOKEN", "GPUCM_DB", "LOG_LEVEL")
        and not k.startswith(("TEXTUAL", "NO_COLOR", "FORCE_COLOR"))
    }
    return {**keep, "GPUCM_HOME": str(home), **(extra or {})}


@dataclass(frozen=True)
class Served:
    url: str
    pid: int

    def sessions(self) -> list[int]:
        """The app processes the server has started (one per accepted websocket)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(p) for p in path.read_text().split()]


@contextmanager
def tui_server(home: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """`gpucm-tui --serve --port 0 ARGS` in a process of its own."""
    proc = subprocess.Popen(
        [sys.executable, "-c", TUI, "--serve", "--port", "0", *args],
        env=tui_env(home, env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = SERVING.search(line)
        if found is None:
            rest = line + (proc.stderr.read() if proc.poll() is not None else "")
            raise AssertionError(f"gpucm-tui --serve did not start: {rest}")
        yield Served(found.group(1), proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="gpucm-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CATCH_TERMINAL})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screen(driver: Any) -> list[str]:
    """The terminal's lines as xterm.js holds them ([] before it exists)."""
    found = driver.execute_script(READ_SCREEN)
    return list(found["lines"]) if found else []


def wait_for(
    driver: Any, ready: Callable[[list[str]], bool], what: str, timeout: float = 90
) -> list[str]:
    """The screen once `ready` holds for it; fails with the last screen seen."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = screen(driver)
        if lines and ready(lines):
            return lines
        time.sleep(0.25)
    shown = "\n".join(lines) or "(no terminal on the page)"
    raise AssertionError(f"the browser never showed {what}; the screen was:\n{shown}")


# an offer table row: provider (as the screen names it), GPU model, count, $/h (a
# detail pane's per-provider line has a count right after the provider)
OFFER_ROW = re.compile(
    r"\b(Vast\.ai|RunPod|Lambda Cloud|Paperspace) +[A-Za-z][^$]*? \d+ +\$\d+\.\d+"
)


def offer_rows(lines: list[str]) -> list[str]:
    """The offer table's data rows."""
    return [line for line in lines if OFFER_ROW.search(line)]


def matches(lines: list[str]) -> int | None:
    """The status bar's count of matching offers."""
    for line in reversed(lines):
        found = MATCHES.search(line)
        if found:
            return int(found.group(1))
    return None


def page_text_within(driver: Any, text: str, timeout: float = 30) -> str:
    """The page's body text once it holds `text`. A form's answer is a new page, so
    the old body goes stale while it loads: read it again until the new one is in."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        try:
            body = driver.find_element("css selector", "body").text
        except StaleElementReferenceException:
            body = ""
        if text in body:
            return body
        time.sleep(0.1)
    raise AssertionError(f"the page never said {text!r}; it said:\n{body}")


def market_painted(lines: list[str]) -> bool:
    """The DEMO market's table, with the status bar's count after the first refresh."""
    count = matches(lines)
    return (
        any("DEMO" in line for line in lines)
        and len(offer_rows(lines)) >= 5
        and count is not None
        and count > 0
    )


def type_keys(driver: Any, text: str) -> None:
    """Keys as a person types them, into the terminal's input. Focused through xterm,
    not by a click: a click lands on the app (a table row) and means something there."""
    driver.execute_script("window.__gpucmTerminal.focus()")
    driver.find_element("css selector", ".xterm-helper-textarea").send_keys(text)
