"""chart_draw: the cells a chart is drawn in, checked as text."""

from __future__ import annotations

import pytest

from gpucm.tui.widgets.chart_draw import (
    LEGEND_MARK,
    bar_chart,
    column_chart,
    figure_text,
    line_chart,
)

BRAILLE = range(0x2800, 0x2900)


def rows(fig: list[list[tuple[str, int | None]]]) -> list[str]:
    return figure_text(fig).split("\n")


def dots(line: str) -> list[int]:
    """Columns holding a braille character."""
    return [i for i, ch in enumerate(line) if ord(ch) in BRAILLE and ch != chr(0x2800)]


def test_a_rising_line_fills_the_plot_corner_to_corner() -> None:
    fig = line_chart(
        30,
        10,
        title="rising",
        lines=[[(0.0, 0.0), (10.0, 1.0)]],
        x_range=(0.0, 10.0),
        y_range=(0.0, 1.0),
        x_ticks=[(0.0, "start"), (10.0, "end")],
        y_ticks=[(0.0, "lo"), (1.0, "hi")],
    )
    lines = rows(fig)
    assert len(lines) == 10  # title, frame, 6 canvas rows, frame, x labels
    assert lines[0].strip() == "rising"
    assert lines[1] == "  ┌" + "─" * 26 + "┐"
    canvas = lines[2:8]
    # the top row starts with the high tick, the bottom with the low one
    assert canvas[0].startswith("hi┤") and canvas[-1].startswith("lo┤")
    assert all(row.endswith("│") for row in canvas)
    # the line climbs: bottom-left to top-right, a dot in every column on the way
    assert dots(canvas[-1])[0] == 3 and dots(canvas[0])[-1] == 28
    assert sorted({c for row in canvas for c in dots(row)}) == list(range(3, 29))
    assert lines[8] == "  └┬" + "─" * 24 + "┬┘"
    assert lines[9].split() == ["start", "end"]


def test_lines_take_their_series_colour_and_the_legend_its_mark() -> None:
    fig = line_chart(
        40,
        10,
        title="two",
        lines=[[(0.0, 0.0), (1.0, 0.0)], [(0.0, 0.2), (1.0, 0.2)]],
        x_range=(0.0, 1.0),
        y_range=(0.0, 1.0),
        x_ticks=[],
        y_ticks=[],
        legend=["RunPod", "Vast.ai"],
    )
    coloured = {series for row in fig for text, series in row if text.strip()}
    assert coloured == {None, 0, 1}
    canvas = fig[2:8]
    for series, label in enumerate(["RunPod", "Vast.ai"]):
        row = canvas[series]
        assert (f" {LEGEND_MARK}", series) in row
        assert label in "".join(text for text, s in row if s is None)
    # the first line lies on the bottom row, in its colour only
    assert {s for text, s in canvas[-1] if text.strip(" │")} == {0}


def test_a_histogram_column_is_as_tall_as_its_count() -> None:
    fig = column_chart(
        24,
        8,
        title="prices",
        counts=[1, 0, 4, 2],
        x_ticks=[(0.0, "$1"), (1.0, "$2")],
        y_ticks=[(0, "0"), (4, "4")],
    )
    lines = rows(fig)
    canvas = [line[2:-1] for line in lines[2:6]]  # 4 rows = 32 eighths for a count of 4
    assert len(canvas[0]) == 21
    width = 21 // 4
    third = canvas[0][2 * width : 3 * width + 1]
    assert set(third.strip()) == {"█"}  # the tallest reaches the top
    assert [row[0] for row in canvas] == [" ", " ", " ", "█"]  # 1 of 4: one row of four
    assert all(row[width + 1] == " " for row in canvas)  # the empty bin
    assert [row[-1] for row in canvas] == [" ", " ", "█", "█"]  # 2 of 4: half
    assert lines[2].startswith("4┤") and lines[5].startswith("0┤")
    assert lines[7].split() == ["$1", "$2"]


def test_a_small_count_still_shows() -> None:
    fig = column_chart(
        30, 8, title="t", counts=[1, 500], x_ticks=[], y_ticks=[(0, "0"), (500, "500")]
    )
    bottom = rows(fig)[5]
    assert bottom[4] in "▁▂▃▄▅▆▇█"


def test_bars_run_to_their_share_of_the_widest_with_their_labels() -> None:
    fig = bar_chart(40, 11, title="offers per provider", bars=[("Vast.ai 8", 8), ("RunPod 2", 2)])
    lines = rows(fig)
    assert len(lines) == 11  # no x tick row
    labelled = {line.split("┤")[0].strip(): line.split("┤")[1] for line in lines if "┤" in line}
    assert set(labelled) == {"Vast.ai 8", "RunPod 2"}
    plot = 40 - len("Vast.ai 8") - 2
    assert labelled["Vast.ai 8"] == "█" * plot + "│"
    full, part = divmod(round(2 / 8 * plot * 8), 8)  # a quarter, in eighths of a cell
    assert labelled["RunPod 2"].rstrip(" │") == "█" * full + " ▏▎▍▌▋▊▉"[part].strip()
    assert lines.index(next(x for x in lines if "Vast.ai" in x)) < lines.index(
        next(x for x in lines if "RunPod" in x)
    )


@pytest.mark.parametrize("size", [(0, 0), (1, 1), (10, 3), (12, 4), (40, 10)])
def test_any_size_draws_within_it(size: tuple[int, int]) -> None:
    width, height = size
    figs = [
        line_chart(
            width,
            height,
            title="a title longer than the chart is wide",
            lines=[[(0.0, 1.0), (1.0, 2.0)]],
            x_range=(0.0, 1.0),
            y_range=(1.0, 2.0),
            x_ticks=[(0.0, "11-19 12:00"), (1.0, "11-26 12:00")],
            y_ticks=[(1.0, "$1.00"), (2.0, "$2.00")],
            legend=["RunPod"],
        ),
        column_chart(width, height, title="t", counts=[3], x_ticks=[(0.5, "$1")], y_ticks=[]),
        bar_chart(width, height, title="t", bars=[(f"p{i}", i) for i in range(9)]),
    ]
    for fig in figs:
        lines = rows(fig) if fig else []
        assert len(lines) <= max(height, 1)
        assert all(len(line) <= width for line in lines)
