"""Asking the person at the terminal: only when stdin is one (a script gets a refusal
that names the flag to pass instead)."""

from __future__ import annotations

import sys


def interactive() -> bool:
    """Whether a person can answer: stdin is a terminal."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def ask(prompt: str) -> str:
    """A line from the person at the terminal; the prompt goes to stderr (stdout carries
    data). End of input reads as no answer."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        sys.stderr.write("\n")
    return line.strip()
