"""A watch's launch template (filters.toml's `[watches.NAME.launch]`): the one set of
rules the file, `gpucm watch add --launch` and the TUI's watch dialog go through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gpucm.launch_template import LaunchTemplate, TemplateError, parse_template
from gpucm.presets import PresetError, load_book


@pytest.mark.parametrize(
    ("raw", "setting", "reason"),
    [
        ({}, "max_price_per_hour", "required"),
        ({"max_price_per_hour": 0}, "max_price_per_hour", "more than 0"),
        ({"max_price_per_hour": float("inf")}, "max_price_per_hour", "more than 0"),
        ({"max_price_per_hour": 1, "disk_gb": float("nan")}, "disk_gb", "more than 0"),
        ({"max_price_per_hour": 1, "count": 9}, "count", "from 1 to 8"),
        ({"max_price_per_hour": 1, "bid_per_gpu": 0.2}, "bid_per_gpu", "only with interruptible"),
        (
            {"max_price_per_hour": 1, "interruptible": True, "bid_per_gpu": float("inf")},
            "bid_per_gpu",
            "more than 0",
        ),
        ({"max_price_per_hour": 1, "ports": ["8888", "0"]}, "ports", "expected PORT"),
        ({"max_price_per_hour": 1, "env": ["OK", "2X"]}, "env", "a variable name"),
        ({"max_price_per_hour": 1, "env": "HF_TOKEN"}, "env", "must be a list"),
        ({"max_price_per_hour": 1, "ssh_key": " "}, "ssh_key", "printable text"),
    ],
)
def test_a_bad_setting_is_named_with_its_reason(
    raw: dict[str, Any], setting: str, reason: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(raw)
    assert caught.value.setting == setting and reason in caught.value.reason
    # the file's message: the setting, then why
    assert str(caught.value) == f"{setting}: {caught.value.reason}"


def test_an_infinite_ceiling_in_the_file_is_refused_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "filters.toml"
    path.write_text(
        '[watches.w]\nquery = "gpu=A100"\n[watches.w.launch]\nmax_price_per_hour = inf\n'
    )
    with pytest.raises(PresetError, match=r"watches\.w\.launch: max_price_per_hour: must be"):
        load_book(path)


def test_repeated_ports_and_env_names_are_kept_once_in_order() -> None:
    template = parse_template(
        {"max_price_per_hour": 1, "ports": ["8888", "8888/tcp", "22"], "env": ["B", "A", "B"]}
    )
    assert template.ports == ((8888, "tcp"), (22, "tcp"))
    assert template.env == ("B", "A")


def test_describe_says_the_ceiling_is_per_machine_and_the_bid() -> None:
    one = LaunchTemplate(max_price_per_hour=0.4)
    assert one.describe() == "1 x on-demand, at most $0.400/h all-in"
    three = LaunchTemplate(
        max_price_per_hour=0.5, interruptible=True, bid_per_gpu=0.25, count=3, disk_gb=80
    )
    assert three.describe() == (
        "3 x interruptible (bid $0.25/GPU-h), at most $0.500/h all-in each"
        " ($1.500/h in all); 80 GB disk"
    )
    default_bid = LaunchTemplate(max_price_per_hour=0.5, interruptible=True)
    assert "interruptible (the default bid, just over the offer's minimum)" in (
        default_bid.describe()
    )
