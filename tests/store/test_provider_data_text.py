"""An offer's provider data is stored as JSON text (store/rows.py `encode_provider_data`:
orjson, and the json module where orjson would write something else). Whatever a
provider's data holds, it reads back as the json module always wrote it, on both
backends: a refresh on SQLite encodes all the offers at once, one on PostgreSQL one by
one, and the two must agree."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gpucm.domain.models import SearchQuery
from gpucm.store.rows import encode_each_provider_data, encode_provider_data
from gpucm.store.store import Store
from tests.conftest import FIXED_NOW
from tests.offer_factory import make_offer

# provider data as the parsers make it (providers/*_parse.py: str keys, JSON values)
# and beyond it, each case something an encoder could get wrong
CASES: dict[str, dict[str, Any]] = {
    "plain": {"ask_id": 12345, "egress_per_gb": 0.001953125, "hosting_type": 1},
    "empty": {},
    "non_ascii": {"region": "Québec, CA", "name": "数据中心 ✓ 😀", "quote": 'say "hi" \\ /'},
    "controls": {"t": "a\x00b\x1f\u2028\u2029\x7f"},
    "nested": {"k": [1, "x", None, 2.5, [[]], {"deep": [True, False]}], "cuda": ["12.4"]},
    "floats": {"tiny": 5e-324, "big": 1e16, "max": 1.7976931348623157e308, "neg0": -0.0},
    "none_value": {"data_center_name": None},
    "null_text": {"note": "nullable", "null": 1},
    # orjson would write these as null (NaN, Infinity in the json module's text)
    "nan": {"dlperf": math.nan},
    "inf": {"a": math.inf, "b": -math.inf},
    # orjson refuses these
    "big_int": {"machine_id": 10**30, "neg": -(2**64)},
    "int_keys": {7: "seven", 2.5: "x", True: "t", None: "n"},  # not in an Offer (below)
    "surrogate": {"t": "broken \ud800 text"},
    # orjson writes a datetime in its own format, the json module with default=str
    "datetime": {"at": datetime(2026, 11, 26, 12, 0, tzinfo=UTC)},
    "set": {"s": {3}},
}


def _as_read(data: dict[str, Any]) -> str:
    """What the json module reads back from its own text, written out again to
    compare (a NaN read back is not == the NaN written)."""
    text = json.JSONEncoder(separators=(",", ":"), default=str).encode(data)
    return json.dumps(json.loads(text))


@pytest.mark.parametrize("case", CASES)
def test_each_text_reads_back_as_the_json_modules(case: str) -> None:
    data = CASES[case]
    assert json.dumps(json.loads(encode_provider_data(data))) == _as_read(data)


def test_a_batch_is_encoded_as_each_alone() -> None:
    """A batch takes orjson for all of them; a batch where some need the json module
    (a null, a NaN) or where orjson refuses one (an int key) must come out the same."""
    plain = [CASES["plain"], CASES["non_ascii"], CASES["nested"], CASES["empty"]]
    for extra in ([], [CASES["nan"]], [CASES["none_value"]], [CASES["int_keys"]]):
        batch = [*plain, *extra, *plain]
        offers = [{"provider_data": data} for data in batch]  # as an Offer's __dict__
        assert encode_each_provider_data(offers) == [encode_provider_data(d) for d in batch]


def test_plain_data_is_not_escaped() -> None:
    """The fast encoder writes plain data itself (the json module would escape é)."""
    assert encode_provider_data({"r": "é"}) == '{"r":"é"}'
    assert encode_each_provider_data([{"provider_data": {"r": "é"}}]) == ['{"r":"é"}']


async def test_provider_data_reads_back_through_the_store(db_path: Path | str) -> None:
    """Through a refresh and a search, each case reads back as the json module's text
    would: on SQLite all at once, on PostgreSQL one at a time."""
    # an Offer refuses a key that is not a str (pydantic validates dict[str, Any])
    stored = {case: data for case, data in CASES.items() if case != "int_keys"}
    offers = [
        make_offer(provider_id=case, fetched_at=FIXED_NOW, provider_data=data)
        for case, data in stored.items()
    ]
    store = await Store.open(db_path)
    try:
        await store.replace_offers("vast_ai", offers, fetched_at=FIXED_NOW)
        page = await store.search(SearchQuery(available=False))
    finally:
        await store.close()
    read = {o.provider_id: json.dumps(o.provider_data) for o in page.offers}
    assert read == {case: _as_read(data) for case, data in stored.items()}
