"""A real `gpucm serve --demo` in a subprocess on a free loopback port (--port 0; the
address is read from the line it prints once it listens)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
# settings a developer's shell may hold that would change the server under test
CLEARED = ("GPUCM_API_TOKEN", "PORT", "DATABASE_URL", "GPUCM_DB", "LOG_LEVEL", "ENABLE_CORS")


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[str]
    stderr: list[str] = field(default_factory=list)

    def stop(self) -> int:
        """SIGTERM, as a service manager would stop it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def server_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_API_URL")) and k not in CLEARED
    }
    env["GPUCM_HOME"] = str(home)
    env.update(extra)
    return env


@contextmanager
def live_server(home: Path, *args: str, **env: str) -> Iterator[LiveServer]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gpucm.cli.serve", "--demo", "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(home, **env),
    )
    lines: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            match = LISTENING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()  # it ended without listening

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    server = LiveServer("", process, lines)
    try:
        if not ready.wait(60) or not found:
            raise AssertionError("gpucm serve did not start:\n" + "\n".join(lines))
        server.url = found[0]
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=5)
