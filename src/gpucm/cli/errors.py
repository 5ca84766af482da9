"""Command-line errors: one clear line and exit status 2 (light: argparse only)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from gpucm.input_checks import text_problem


class UsageError(Exception):
    """Bad input on the command line: one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, epilog_text: Callable[[], str] | None = None, **kw: Any):
        """`epilog_text`: the help's epilog, built only when help is printed (it names
        the config file's path, which costs a look at the platform's directories)."""
        super().__init__(*args, **kw)
        self._epilog_text = epilog_text

    def format_help(self) -> str:
        if self._epilog_text is not None and self.epilog is None:
            self.epilog = self._epilog_text()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        # argparse prints usage plus a message; gpucm prints one clear line.
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        ns, extra = self.parse_known_args(args, namespace)
        if extra:
            # argparse says it as the top parser ("see gpucm --help"), which does not
            # list the flags of the command that was given them
            prog = _innermost(self, ns).prog
            raise UsageError(
                f"{prog}: unrecognized arguments: {' '.join(extra)} (see {prog} --help)"
            )
        return ns

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        ns, extra = super().parse_known_args(args, namespace)
        # Every parser checks its own arguments (a subcommand's parser runs this too,
        # so the line names the subcommand): text that is not UTF-8 stops here, before
        # anything is read, written or sent.
        for action in self._actions:
            problem = _first_problem(getattr(ns, action.dest, None))
            if problem:
                raise UsageError(f"{self.prog}: {_shown(action)}: {problem}")
        for value in extra:
            problem = text_problem(value)
            if problem:
                raise UsageError(f"{self.prog}: an argument is {problem}")
        return ns, extra


def _innermost(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command `ns` was parsed for: `gpucm instances launch`'s."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = None if sub is None else getattr(ns, sub.dest, None)
        chosen = sub.choices.get(name) if sub is not None and isinstance(name, str) else None
        if chosen is None:
            return parser
        parser = chosen


def _first_problem(value: Any) -> str | None:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, list | tuple):
        for item in value:
            problem = _first_problem(item)
            if problem:
                return problem
    return None


def _shown(action: argparse.Action) -> str:
    if action.option_strings:
        return max(action.option_strings, key=len)
    return str(action.metavar or action.dest).upper()


class Refused(Exception):
    """Not done, for a reason the user can act on: one line, exit status 1."""
