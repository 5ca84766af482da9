"""Provider text is data: no terminal control character a provider sends reaches an
Offer or an Instance (issue 14, "provider text never executed").

Every string value of every recorded answer (and the keys that are data: Lambda's
instance-type names) gets an escape sequence and a bell spliced in; the answers are
parsed as the adapters parse them, and no string of the resulting offers and instances
(provider_data included) may hold a control character.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from gpucm.domain.models import Instance, Offer
from gpucm.providers import lambdalabs_parse, paperspace_parse, runpod_parse, vastai_parse
from gpucm.providers.values import clean, text
from tests.conftest import FIXED_NOW, FIXTURES

# ESC, a colour, BEL, an OSC window title, a C1 CSI, DEL, NUL, a bidi override
NASTY = "\x1b[31m\x07\x1b]0;pwned\x07\x9b2J\x7f\x00\u202e"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def spiked(value: Any) -> Any:
    """`value` with NASTY inside every string value (keys name the API's fields)."""
    if isinstance(value, str):
        middle = len(value) // 2
        return value[:middle] + NASTY + value[middle:]
    if isinstance(value, list):
        return [spiked(v) for v in value]
    if isinstance(value, dict):
        return {k: spiked(v) for k, v in value.items()}
    return value


def lambda_types() -> Any:
    body = spiked(load("lambda/instance_types.json"))
    body["data"] = {spiked(name): entry for name, entry in body["data"].items()}
    return body


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    return []


Parse = Callable[[], list[Offer] | list[Instance]]

PARSERS: dict[str, Parse] = {
    "vast offers": lambda: vastai_parse.parse_offers(
        spiked(load("vastai/search_offers.json")), FIXED_NOW
    ),
    "vast instances": lambda: vastai_parse.parse_instances(
        spiked(load("vastai/instances.json"))["instances"]
        + spiked(load("vastai/instances_interruptible.json"))["instances"]
    ),
    "runpod offers": lambda: runpod_parse.parse_catalog(
        [("SECURE", 1, spiked(load("runpod/v2_catalog_gpus_secure_1.json")))], FIXED_NOW
    ),
    "runpod pods": lambda: runpod_parse.parse_pods(spiked(load("runpod/v2_pods.json")), FIXED_NOW),
    "lambda offers": lambda: lambdalabs_parse.parse_offers(lambda_types(), FIXED_NOW),
    "lambda instances": lambda: lambdalabs_parse.parse_instances(
        spiked(load("lambda/instances.json"))
    ),
    "paperspace machines": lambda: paperspace_parse.parse_machines_page(
        spiked(load("paperspace/machines.json"))
    )[0],
}


@pytest.mark.parametrize("what", sorted(PARSERS))
def test_no_control_character_reaches_an_offer_or_instance(what: str) -> None:
    parsed = PARSERS[what]()
    assert parsed, f"{what}: the spiked answer should still parse"
    for item in parsed:
        for value in strings(item.model_dump(mode="json")):
            assert not CONTROL.search(value), f"{what}: {value!r}"
            assert "pwned" not in value  # an OSC title is removed whole, not just its ESC


def test_the_gpu_and_instance_names_survive_cleaning() -> None:
    offers = PARSERS["vast offers"]()
    assert {o.gpu_name for o in offers} >= {"RTX 4090", "H100 SXM"}
    pods = PARSERS["runpod pods"]()
    assert "pytorch-training" in {p.name for p in pods}
    # the stock level is read after cleaning: a spiked "HIGH" is still high
    levels = {o.availability for o in PARSERS["runpod offers"]()}
    assert "high" in levels


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("RTX\x1b[31m 4090\x1b[0m", "RTX 4090"),
        ("a\x07b", "ab"),
        ("line one\nline two\ttab", "line one line two tab"),
        ("\x1b]0;title\x07name", "name"),
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("x\x9b31my", "xy"),
        ("evil\u202eexe.txt", "evilexe.txt"),
        ("  spaced   out  ", "spaced out"),
        ("plain", "plain"),
        ("\x1b[", ""),
    ],
)
def test_clean(raw: str, expected: str) -> None:
    assert clean(raw) == expected


def test_text_reader() -> None:
    assert text("\x1b[2J") is None  # nothing left
    assert text(7) is None
    assert text("x" * 5000) == "x" * 1000
    assert text("é ü 東京") == "é ü 東京"  # printable text passes untouched
