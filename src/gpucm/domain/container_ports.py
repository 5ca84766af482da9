"""A container port a launch exposes: `8888`, `8888/tcp`, `53/udp`, `8080/http`.

The one reading of it for the CLI's `--port`, the TUI's launch form and a watch's launch
template (each says the error in its own frame). Plain Python, no pydantic: the CLI's
parser imports it before anything heavy loads.
"""

from __future__ import annotations

import re
from typing import Final

PORT_PROTOCOLS: Final = ("tcp", "udp", "http")
# what a port is, for the messages that list the choices
PORT_FORMAT: Final = f"PORT or PORT/PROTOCOL (1-65535; {', '.join(PORT_PROTOCOLS)})"


class PortError(ValueError):
    """Not a port: `str()` names the text and says which part is wrong."""


def parse_port(text: str) -> tuple[int, str]:
    """`8888/tcp` -> (8888, "tcp"); the protocol is tcp where none is given."""
    number, _, protocol = text.strip().partition("/")
    protocol = (protocol or "tcp").lower()
    # isascii: `²`.isdigit() is true, and int() refuses it
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= 65535:
        raise PortError(f"{text!r}: a port is a number from 1 to 65535, like 8888/tcp")
    if protocol not in PORT_PROTOCOLS:
        raise PortError(f"{text!r}: the protocol is tcp, udp or http")
    return int(number), protocol


def parse_port_list(text: str) -> tuple[tuple[int, str], ...]:
    """`8888/tcp, 6006/http 22` -> ((8888, "tcp"), (6006, "http"), (22, "tcp")): commas
    or spaces between, each port once, in the order given."""
    out: list[tuple[int, str]] = []
    for part in re.split(r"[,\s]+", text.strip()):
        if part and (port := parse_port(part)) not in out:
            out.append(port)
    return tuple(out)
