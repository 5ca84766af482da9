"""Saved filters and watches: a readable file, clear errors, nothing written that would
not read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpucm.domain.query import parse_query
from gpucm.presets import (
    PresetError,
    Watch,
    delete_filter,
    delete_watch,
    load_book,
    save_filter,
    save_watch,
)


def test_filters_round_trip_as_query_text(tmp_path: Path) -> None:
    path = tmp_path / "filters.toml"
    save_filter("cheap-4090", 'gpu="RTX 4090" price<=0.5', path)
    save_filter("big", "vram>=80 count>=8", path)
    text = path.read_text()
    assert "cheap-4090 = 'gpu=\"RTX 4090\" price<=0.5'" in text or 'cheap-4090 = "gpu=' in text
    book = load_book(path)
    assert book.filter_query("cheap-4090") == parse_query('gpu="RTX 4090" price<=0.5')
    assert set(book.filters) == {"cheap-4090", "big"}
    save_filter("big", "vram>=40", path)  # saving again replaces
    assert load_book(path).filters["big"] == "vram>=40"


def test_a_missing_file_is_an_empty_book(tmp_path: Path) -> None:
    book = load_book(tmp_path / "none.toml")
    assert (book.filters, book.watches) == ({}, {})
    with pytest.raises(PresetError, match=r"no saved filter named .x.*none saved yet"):
        book.filter_query("x")


@pytest.mark.parametrize(
    ("name", "query", "message"),
    [
        ("bad name!", "gpu=A100", "invalid name"),
        ("ok", "price<<2", "price"),
    ],
)
def test_bad_filters_are_refused_and_nothing_is_written(
    tmp_path: Path, name: str, query: str, message: str
) -> None:
    path = tmp_path / "filters.toml"
    with pytest.raises(PresetError, match=message):
        save_filter(name, query, path)
    assert not path.exists()


def test_watches_name_a_filter_or_carry_a_query(tmp_path: Path) -> None:
    path = tmp_path / "filters.toml"
    save_filter("h100", "gpu=H100", path)
    save_watch(Watch("h100-cheap", "", filter_name="h100", price_at_or_under=2.0), path)
    save_watch(Watch("any-mi300", "gpu=MI300X", min_offers=3, new_provider=True), path)
    book = load_book(path)
    cheap = book.watches["h100-cheap"]
    assert cheap.query_text == "gpu=H100"  # resolved through the filter
    assert cheap.describe() == "filter h100: price <= $2/h"
    assert book.watches["any-mi300"].conditions() == [">= 3 offers", "a new provider"]
    with pytest.raises(PresetError, match="used by watch"):
        delete_filter("h100", path)
    delete_watch("h100-cheap", path)
    delete_filter("h100", path)
    assert set(load_book(path).watches) == {"any-mi300"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[watches.w]\nquery = 'gpu=A100'\n", "needs a condition"),
        ("[watches.w]\nprice_at_or_under = 1\n", "needs filter = NAME or query"),
        ("[watches.w]\nfilter = 'nope'\nmin_offers = 2\n", "no saved filter named 'nope'"),
        ("[watches.w]\nquery = 'gpu=A100'\nmin_offers = -1\n", "whole number >= 0"),
        ("[watches.w]\nquery = 'gpu=A100'\nprice = 1\n", "unknown setting"),
        ("[filters]\nx = 'sort=banana'\n", "filters.x"),
        ("[filters\n", "not valid TOML"),
    ],
)
def test_a_hand_edited_file_gets_a_message_naming_the_entry(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "filters.toml"
    path.write_text(body)
    with pytest.raises(PresetError, match=message) as info:
        load_book(path)
    assert str(path) in str(info.value)
