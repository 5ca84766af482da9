"""How every CLI command speaks: data on stdout (a table, JSON or CSV), messages on
stderr, one line each, never carrying a secret."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from gpucm.providers.errors import redact


def say(message: str) -> None:
    print(message, file=sys.stderr)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def demo_banner(demo: bool) -> None:
    if demo:
        say("DEMO market: simulated offers (no provider API keys are configured).")


def clean_line(text: str, secrets: Sequence[str]) -> str:
    """One line, with no secret in it (of 4 characters or more: shorter ones would
    scrub ordinary words, and are no secret)."""
    longest_first: list[str] = sorted(secrets, key=len, reverse=True)
    return " ".join(redact(text, longest_first).split())
