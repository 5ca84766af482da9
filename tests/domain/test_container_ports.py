"""The one reading of a container port, and each caller's words for a bad one (the
CLI's --port, a watch's launch template, the TUI's launch form)."""

from __future__ import annotations

import pytest

from gpucm.cli.main import main
from gpucm.domain.container_ports import PortError, parse_port, parse_port_list
from gpucm.launch_template import TemplateError, parse_template
from gpucm.launch_template import parse_port as template_port


def test_a_port_is_a_number_with_an_optional_protocol() -> None:
    assert parse_port("8888") == (8888, "tcp")
    assert parse_port(" 53/UDP ") == (53, "udp")
    assert parse_port("8080/http") == (8080, "http")
    assert parse_port("65535/tcp") == (65535, "tcp")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0", "a port is a number from 1 to 65535"),
        ("99999/tcp", "a port is a number from 1 to 65535"),
        ("-1", "a port is a number from 1 to 65535"),
        ("", "a port is a number from 1 to 65535"),
        ("²", "a port is a number from 1 to 65535"),  # a digit to isdigit, not to int
        ("80/sctp", "the protocol is tcp, udp or http"),
    ],
)
def test_a_bad_port_says_which_part_is_wrong(text: str, why: str) -> None:
    with pytest.raises(PortError) as refused:
        parse_port(text)
    assert str(refused.value).startswith(f"{text!r}: {why}")


def test_a_list_takes_commas_or_spaces_and_each_port_once() -> None:
    assert parse_port_list("8888/tcp, 6006/http 22") == ((8888, "tcp"), (6006, "http"), (22, "tcp"))
    assert parse_port_list("22, 22/tcp,,  ") == ((22, "tcp"),)
    assert parse_port_list("") == ()
    with pytest.raises(PortError) as refused:
        parse_port_list("22 80/sctp")
    assert str(refused.value) == "'80/sctp': the protocol is tcp, udp or http"


def test_the_cli_says_a_bad_port_in_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["instances", "launch", "--offer", "vast_ai:1", "--port", "80/sctp", "--yes"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1] == (
        "gpucm instances launch: argument --port: expected PORT or PORT/PROTOCOL"
        " (1-65535; tcp, udp, http), e.g. 8888/tcp; got '80/sctp'"
        " (see gpucm instances launch --help)"
    )


def test_a_template_names_the_bad_port_in_its_own_words() -> None:
    assert template_port("6006/http") == (6006, "http")
    with pytest.raises(TemplateError) as refused:
        template_port("99999")
    # the reason in the parser's words; the message names the filters.toml setting
    assert refused.value.reason == (
        "expected PORT or PORT/PROTOCOL (1-65535; tcp, udp, http), got '99999'"
    )
    assert refused.value.setting == "ports"
    assert str(refused.value) == f"ports: {refused.value.reason}"
    # what TOML hands over need not be text, and never a bare ValueError out of int()
    assert parse_template({"max_price_per_hour": 2.0, "ports": [8888]}).ports == ((8888, "tcp"),)
    with pytest.raises(TemplateError, match="got '²'"):
        parse_template({"max_price_per_hour": 2.0, "ports": ["²"]})
