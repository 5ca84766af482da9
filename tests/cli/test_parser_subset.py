"""A command line that names its command is parsed by a parser holding that command
alone (cli/parser.py): it must read every command line exactly as the whole parser
does, and leave to the whole parser whatever it cannot be sure of."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gpucm.cli.errors import UsageError
from gpucm.cli.parser import COMMAND_NAMES, build_parser, named_command, parse_args

LINES = [
    ["offers", "--limit", "5", "--json"],
    ["offers", "--gpu-model", "H100", "--gpu-model", "A100", "--max-price", "3", "--csv"],
    ["--debug", "offers", "-q", "gpu=H100 price<3"],
    ["--log-file", "/tmp/x.log", "stats", "--json"],
    ["--log-file=/tmp/x.log", "models", "--category", "datacenter"],
    ["--log-file", "offers", "refresh", "--provider", "runpod"],  # a log file named offers
    ["instances", "launch", "--offer", "vast_ai:1", "--port", "8888/udp", "--yes"],
    ["hosts", "forget", "--all"],
    ["spend", "--since", "30d", "--by", "day"],
    ["watch", "list"],
    ["history", "-g", "H100"],
    ["filters", "save", "cheap", "price<2"],
    ["serve", "--port", "0"],
    ["db", "init"],
    ["paths", "--json"],
    ["completion", "fish"],
    ["doctor", "--yes"],
]


@pytest.mark.parametrize("argv", LINES, ids=" ".join)
def test_a_named_command_parses_as_the_whole_parser_does(argv: list[str]) -> None:
    whole = build_parser().parse_args(argv)
    assert vars(parse_args(argv)) == vars(whole)


def test_the_subset_parser_holds_only_the_named_command() -> None:
    parser = build_parser("offers")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == ["offers"]
    whole = build_parser()
    every = next(a for a in whole._actions if isinstance(a, argparse._SubParsersAction))
    assert set(every.choices) == COMMAND_NAMES


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["offers", "--json"], "offers"),
        (["--debug", "--log-file", "a.log", "stats"], "stats"),
        (["--log-file=a.log", "watch", "list"], "watch"),
        (["--log-file", "offers"], None),  # offers is the log file: no command yet
        (["-h", "offers"], None),  # the top-level help lists every command
        (["--version"], None),
        (["--deb", "offers"], None),  # an abbreviation: argparse decides
        (["nonsense"], None),
        ([], None),
    ],
)
def test_which_command_is_certain_before_parsing(argv: list[str], command: str | None) -> None:
    assert named_command(argv) == command


@pytest.mark.parametrize(
    "argv",
    [["offers", "--limit", "x"], ["offers", "--bogus"], ["--log-file", "offers", "nonsense"]],
)
def test_a_mistake_reads_as_the_whole_parser_says_it(argv: list[str]) -> None:
    with pytest.raises(UsageError) as whole:
        build_parser().parse_args(argv)
    with pytest.raises(UsageError) as ours:
        parse_args(argv)
    assert str(ours.value) == str(whole.value)


def test_a_log_file_named_like_a_command(tmp_path: Path) -> None:
    log = str(tmp_path / "offers")
    ns = parse_args(["--log-file", log, "refresh"])
    assert ns.command == "refresh"
    assert ns.log_file == Path(log)


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--debug", "--version"], ["--log-file", "a.log", "--version", "offers"]],
)
def test_version_prints_what_the_whole_parser_prints_without_building_it(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as whole:
        build_parser().parse_args(argv)
    expected = capsys.readouterr().out

    def unwanted(command: str | None = None) -> None:
        raise AssertionError("--version built a parser")

    monkeypatch.setattr("gpucm.cli.parser.build_parser", unwanted)
    with pytest.raises(SystemExit) as ours:
        parse_args(argv)
    assert ours.value.code == whole.value.code == 0
    assert capsys.readouterr().out == expected
