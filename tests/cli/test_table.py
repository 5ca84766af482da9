"""CLI tables fit the width they are given, shortening the flexible columns first."""

from __future__ import annotations

import pytest

from gpucm.cli.table import Column, output_width, render_table

COLUMNS = [Column("ID"), Column("NAME", min_width=4, flex=True), Column("PRICE", ">")]
ROWS = [["vast_ai:1", "a-rather-long-instance-name", "$0.300"]]


def test_a_pipe_is_80_wide_unless_columns_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert output_width() == 80  # pytest captures stdout: not a terminal
    monkeypatch.setenv("COLUMNS", "132")
    assert output_width() == 132
    monkeypatch.setenv("COLUMNS", "wide")
    assert output_width() == 80


def test_flexible_columns_give_way_and_the_rest_stay_whole() -> None:
    wide = render_table(COLUMNS, ROWS, width=80).splitlines()
    assert "a-rather-long-instance-name" in wide[1]
    narrow = render_table(COLUMNS, ROWS, width=30).splitlines()
    assert all(len(line) <= 30 for line in narrow)
    assert narrow[1].startswith("vast_ai:1")
    assert narrow[1].endswith("$0.300")
    assert "…" in narrow[1]
