"""gpucm-tui's terminal driver (tui/driver.py) copies a piece of Textual's LinuxDriver
to quit without its 0.2 s wait. These tests fail loudly when Textual changes under it,
and drive the real app in a pseudo-terminal through it."""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
import tomllib
from pathlib import Path

import textual
from textual.drivers.linux_driver import LinuxDriver

from gpucm.tui.driver import TEXTUAL_VERSION

REPO = Path(__file__).resolve().parents[2]

# LinuxDriver's methods as tui/driver.py was written against them (Textual 8.2.8)
READ_AGAINST = {
    "run_input_thread": "d796af6d69db337d6fa6bd463984f7d17188d991dbb22f60efb92a8a9619507c",
}


def test_textual_is_the_version_the_driver_was_written_against() -> None:
    assert textual.__version__ == TEXTUAL_VERSION, (
        f"Textual {textual.__version__} is installed; tui/driver.py copies "
        f"LinuxDriver.run_input_thread from {TEXTUAL_VERSION}. Compare the two, update "
        "the copy, then TEXTUAL_VERSION, the pin in pyproject.toml and this test."
    )
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert f"textual=={TEXTUAL_VERSION}" in project["project"]["dependencies"]


def test_the_copied_input_thread_is_unchanged_in_textual() -> None:
    for name, digest in READ_AGAINST.items():
        source = inspect.getsource(getattr(LinuxDriver, name))
        assert hashlib.sha256(source.encode()).hexdigest() == digest, (
            f"LinuxDriver.{name} changed: check tui/driver.py against it"
        )


_CSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]")


def _text(screen: bytes) -> str:
    """What was drawn, without the escape sequences."""
    return _CSI.sub(b"", screen).decode("utf-8", "replace")


def _read_until(master: int, wanted: str, seconds: float) -> str:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and wanted not in _text(out):
        out += _read(master, 0.2)
    return _text(out)


def _read(master: int, seconds: float) -> bytes:
    out = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                out += os.read(master, 65536)
            except OSError:
                break
    return out


def test_the_real_app_reads_keys_and_quits_through_the_driver(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL_", "NO_COLOR"))}
    env.update(TERM="xterm-256color", GPUCM_HOME=str(tmp_path))
    code = "import sys; from gpucm.cli.main import tui_main; sys.exit(tui_main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--demo"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=REPO,
        close_fds=True,
    )
    os.close(slave)
    try:
        assert " match" in _read_until(master, " match", 20)  # the main screen is up
        os.write(master, b"?")  # keys reach the app: help opens
        assert "esc / q / ? / f1 close" in _read_until(master, "esc / q / ? / f1 close", 10)
        os.write(master, b"\x1b")
        _read(master, 0.5)
        os.write(master, b"q")
        _read(master, 0.5)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
