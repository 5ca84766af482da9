"""A local TCP server that misbehaves at the socket level, for the faults a mock transport
can only imitate: a connection reset by the peer, a server that accepts and never
answers, and a body that drips in one byte at a time."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Mode = Literal["reset", "hang", "drip"]

DRIP_INTERVAL = 0.05  # seconds between bytes: well inside any read timeout the tests use
DRIP_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode: Mode = "reset"
        self.stop = threading.Event()
        self.connections = 0
        self._lock = threading.Lock()

    def count(self) -> None:
        with self._lock:
            self.connections += 1


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        self.server.count()
        sock.settimeout(5)
        try:
            _read_head(sock)
        except OSError:
            return
        mode = self.server.mode
        if mode == "reset":
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        elif mode == "hang":
            self.server.stop.wait(10)
        else:
            try:
                sock.sendall(DRIP_HEAD + b"[")
                while not self.server.stop.wait(DRIP_INTERVAL):
                    sock.sendall(b"1")
            except OSError:
                return  # the client gave up: what the test wants


def _read_head(sock: socket.socket) -> None:
    """Read the request up to the end of its headers (the body does not matter)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return
        data += chunk


class BadServer:
    def __init__(self, server: _Server) -> None:
        self._server = server
        self.port: int = server.server_address[1]

    def misbehave(self, mode: Mode) -> None:
        self._server.mode = mode

    @property
    def connections(self) -> int:
        return self._server.connections


@contextmanager
def bad_server() -> Iterator[BadServer]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield BadServer(server)
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
