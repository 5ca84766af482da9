"""Market helpers: the trend sparkline covers the whole window it is labelled with."""

from __future__ import annotations

from gpucm.engine.market import sparkline


def test_a_week_of_hourly_buckets_is_drawn_as_the_week() -> None:
    # cheap for the first half of the week, then twice the price
    week = [1.0] * 84 + [2.0] * 84
    line = sparkline(week, 8)
    assert len(line) == 8
    assert len(set(line[:4])) == 1 and len(set(line[4:])) == 1
    assert line[0] < line[-1]  # the jump is visible, not eight hours of flat price


def test_each_stretch_is_drawn_at_its_mean() -> None:
    # two stretches: one spiking once, one flat at the spike's mean level
    values = [1.0, 1.0, 1.0, 5.0, 2.0, 2.0, 2.0, 2.0]
    assert sparkline(values, 2) == sparkline([2.0, 2.0], 2)


def test_a_short_series_is_drawn_point_for_point() -> None:
    assert sparkline([1.0, 2.0, 3.0], 8) == sparkline([1.0, 2.0, 3.0], 3)
    assert len(sparkline([1.0, 2.0, 3.0], 8)) == 3
    assert sparkline([1.0], 8) == ""
