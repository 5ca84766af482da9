"""Command-line errors: one clear line and exit status 2 (light: argparse only)."""

from __future__ import annotations

import argparse
from typing import NoReturn


class UsageError(Exception):
    """Bad input on the command line: one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints usage plus a message; gpucm prints one clear line.
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


class Refused(Exception):
    """Not done, for a reason the user can act on: one line, exit status 1."""
