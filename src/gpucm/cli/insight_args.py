"""Arguments of `gpucm history`, `gpucm filters` and `gpucm watch` (light imports: the
parser is built before the store and the providers load)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

from gpucm.cli.errors import Parser
from gpucm.domain.durations import parse_duration
from gpucm.domain.vocabulary import RESOLUTIONS


def _duration(text: str) -> Any:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _price(text: str) -> float:
    try:
        value = float(text.lstrip("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a price: {text!r}") from None
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"a price is a number >= 0: {text!r}")
    return value


def _positive(text: str) -> float:
    value = _price(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number >= 1: {text!r}")
    return int(text)


def add_parsers(sub: argparse._SubParsersAction[Parser], common: Callable[..., None]) -> None:
    history = sub.add_parser(
        "history",
        help="a GPU model's price history from your refreshes",
        description="Print a GPU model's price history: the cheapest, mean and dearest "
        "$/GPU-h and the offers available, per provider, at the finest resolution the "
        "store keeps for the span (raw points for ~3 days, hourly for 90, daily beyond).",
    )
    history.add_argument("--gpu-model", "-g", required=True, metavar="MODEL")
    history.add_argument(
        "--since", type=_duration, default=parse_duration("7d"), help="e.g. 24h, 7d (default 7d)"
    )
    history.add_argument("--resolution", choices=RESOLUTIONS, help="default: by the span")
    history.add_argument("--provider", action="append", default=[], metavar="NAME")
    fmt_group = history.add_mutually_exclusive_group()
    fmt_group.add_argument("--json", action="store_true", help="JSON on stdout")
    fmt_group.add_argument("--csv", action="store_true", help="CSV on stdout")
    common(history)

    filters = sub.add_parser(
        "filters",
        help="saved filters (also recalled in gpucm-tui's palette)",
        description="Saved filters, kept in filters.toml in the config directory (gpucm "
        "paths names it). Use one with `gpucm offers --preset NAME`.",
    )
    fsub = filters.add_subparsers(dest="filters_action", metavar="ACTION", parser_class=Parser)
    flist = fsub.add_parser("list", help="the saved filters (the default)")
    # SUPPRESS: a subparser's default would undo `gpucm filters --json list`
    flist.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    save = fsub.add_parser("save", help="save a query under a name")
    save.add_argument("name")
    save.add_argument("query", help="query text, e.g. 'gpu=H100 price<3 region=US'")
    delete = fsub.add_parser("delete", help="delete a saved filter")
    delete.add_argument("name")
    filters.add_argument("--json", action="store_true", help="JSON on stdout")
    common(filters)

    watch = sub.add_parser(
        "watch",
        help="watch prices: alert when a saved filter meets a condition",
        description="Without an action: refresh the providers as gpucm-tui does and check "
        "every watch after each refresh; alerts are printed and sent to the configured "
        "watch_command and webhook_url. Each alert is sent once. A watch added with "
        "--launch (a snipe) launches its best match once, without asking, then disarms; "
        "in a team, the team's refresher fires every member's armed watches.",
    )
    watch.add_argument(
        "--once", action="store_true", help="refresh once, check, and exit (for cron)"
    )
    watch.add_argument("--json", action="store_true", help="alerts as JSON lines on stdout")
    wsub = watch.add_subparsers(dest="watch_action", metavar="ACTION", parser_class=Parser)
    wlist = wsub.add_parser("list", help="the watches")
    wlist.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    add = wsub.add_parser("add", help="add or replace a watch")
    add.add_argument("name")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--filter", dest="filter_name", metavar="NAME", help="a saved filter")
    what.add_argument("--query", metavar="TEXT", help="query text")
    add.add_argument("--price-at-or-under", type=_price, metavar="USD_PER_HOUR")
    add.add_argument("--min-offers", type=_count, metavar="N")
    add.add_argument("--new-provider", action="store_true")
    snipe = add.add_argument_group(
        "launch action (a snipe)",
        "With --launch the watch LAUNCHES the best match without asking, once, then "
        "disarms itself. Arming shows the max $/h and asks (or takes --yes).",
    )
    snipe.add_argument(
        "--launch", action="store_true", help="launch the best match when it matches"
    )
    snipe.add_argument(
        "--max-price-per-hour", type=_price, metavar="USD", help="all-in ceiling (required)"
    )
    snipe.add_argument("--image", metavar="IMAGE")
    snipe.add_argument("--disk", type=_positive, metavar="GB")
    snipe.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME",
        help="a variable NAME only: its value is read from the environment at launch",
    )
    snipe.add_argument("--port", action="append", default=[], metavar="PORT[/PROTO]")
    snipe.add_argument("--ssh-key", metavar="NAME")
    snipe.add_argument("--spot", action="store_true", help="interruptible, with --bid")
    snipe.add_argument("--bid", type=_price, metavar="USD_PER_GPU_HOUR")
    snipe.add_argument("--count", type=_count, default=1, metavar="N", help="machines (1)")
    snipe.add_argument("--yes", action="store_true", help="arm without asking")
    arm = wsub.add_parser("arm", help="arm a watch's launch action (it launches without asking)")
    arm.add_argument("name")
    arm.add_argument("--yes", action="store_true", help="arm without asking")
    disarm = wsub.add_parser("disarm", help="disarm a watch's launch action")
    disarm.add_argument("name")
    disarm.add_argument(
        "--owner",
        metavar="USER",
        help="a team member's watch (their OS user): anyone may stop a snipe; "
        "`gpucm watch list` then says who disarmed it",
    )
    remove = wsub.add_parser("delete", help="delete a watch")
    remove.add_argument("name")
    reset = wsub.add_parser("reset", help="forget what watches have said, so they fire again")
    reset.add_argument("name", nargs="?")
    common(watch)
