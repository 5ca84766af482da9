"""`gpucm completion bash|zsh|fish`: a completion script generated from the parser
itself, so a new command or flag completes without anyone editing a script.

bash and zsh come from shtab; shtab writes no fish, so fish's lines are written here
from the same parser (commands, their flags, and the choices of each flag).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator

from gpucm.cli.parser import build_parser

# Flags whose value is a file: completed as paths.
FILE_FLAGS = frozenset({"--db", "--log-file", "--from-json"})


def completion_script(shell: str) -> str:
    parser = build_parser()
    if shell == "fish":
        return fish_script(parser)
    import shtab

    for action in _all_actions(parser):
        if FILE_FLAGS.intersection(action.option_strings):
            action.complete = shtab.FILE  # type: ignore[attr-defined]
    return str(shtab.complete(parser, shell=shell))


def _all_actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _all_actions(child)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    """name -> (help, parser) of a parser's commands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return {name: (helps.get(name, ""), p) for name, p in action.choices.items()}
    return {}


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _short(text: str) -> str:
    return _quote(textwrap.shorten(text, 60, placeholder="..."))


def _fish_flags(parser: argparse.ArgumentParser, condition: str) -> list[str]:
    lines = []
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        parts = [f"complete -c gpucm -n {_quote(condition)}"]
        for flag in action.option_strings:
            parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
        if action.help and action.help != argparse.SUPPRESS:
            parts.append(f"-d {_short(action.help.split(';')[0])}")
        if action.nargs != 0:  # the flag takes a value
            if action.choices:
                parts.append(f"-x -a {_quote(' '.join(map(str, action.choices)))}")
            elif FILE_FLAGS.intersection(action.option_strings):
                parts.append("-r -F")
            else:
                parts.append("-x")
        lines.append(" ".join(parts))
    return lines


def fish_script(parser: argparse.ArgumentParser) -> str:
    lines = ["# gpucm completion for fish (gpucm completion fish)", "complete -c gpucm -f"]
    commands = _subcommands(parser)
    top = "__fish_use_subcommand"
    lines += _fish_flags(parser, top)
    for name, (text, sub) in commands.items():
        lines.append(f"complete -c gpucm -n {top} -a {name} -d {_short(text)}")
        seen = f"__fish_seen_subcommand_from {name}"
        nested = _subcommands(sub)
        if nested:
            names = " ".join(nested)
            first = f"{seen}; and not __fish_seen_subcommand_from {names}"
            for child, (child_text, child_parser) in nested.items():
                lines.append(
                    f"complete -c gpucm -n {_quote(first)} -a {child} -d {_short(child_text)}"
                )
                lines += _fish_flags(
                    child_parser, f"{seen}; and __fish_seen_subcommand_from {child}"
                )
        lines += _fish_flags(sub, seen)
        for action in sub._actions:
            if not action.option_strings and action.choices and not nested:
                words = " ".join(map(str, action.choices))
                lines.append(f"complete -c gpucm -n {_quote(seen)} -a {_quote(words)}")
    return "\n".join(lines) + "\n"
