"""`gpucm spend`: the spend ledger, by provider, UTC day or machine, as a table, JSON
or CSV. The parser half imports nothing heavy (it is built before the store loads)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from gpucm.cli.errors import Parser
from gpucm.cli.insight_args import _duration
from gpucm.domain.durations import parse_duration

if TYPE_CHECKING:
    from gpucm.services import Services

BY = ("provider", "day", "instance")


def add_parser(sub: argparse._SubParsersAction[Parser], common: Callable[..., None]) -> None:
    spend = sub.add_parser(
        "spend",
        help="what your machines have cost: the spend ledger",
        description="Print the spend ledger: every machine's billed time (running, and "
        "stopped where the provider bills the disk) at the rate of each interval, kept "
        "after a machine is terminated. Days and months are UTC. A figure marked ~ is "
        "an estimate (gpucm's rate, where the provider does not report what it bills).",
    )
    spend.add_argument(
        "--since", type=_duration, default=parse_duration("30d"), help="e.g. 24h, 7d (default 30d)"
    )
    spend.add_argument("--by", choices=BY, default="provider", help="group by (default provider)")
    out = spend.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="JSON on stdout")
    out.add_argument("--csv", action="store_true", help="CSV on stdout")
    common(spend)


async def cmd_spend(ns: argparse.Namespace, services: Services) -> int:
    from gpucm import formatting as fmt
    from gpucm.cli.output import clean_line, demo_banner, print_json, say
    from gpucm.cli.table import Column, render_table
    from gpucm.engine.spend import ledger_json, read_ledger
    from gpucm.export import write_csv

    secrets = services.settings.secrets()
    for outcome in await services.instances.sync():
        if not outcome.ok:
            say(
                f"gpucm: could not list instances at {outcome.provider} "
                f"({clean_line(outcome.error or 'failed', secrets)}); the ledger is as "
                "gpucm last saw it"
            )
    now = services.clock()
    since = now - ns.since
    rows, summary = await read_ledger(services.store.spend, since, now, ns.by)
    spent = sum(r.usd for r in rows)
    estimated = any(r.estimated for r in rows)
    if ns.json:
        print_json(ledger_json(rows, ns.by, since, now, summary))
        return 0
    if ns.csv:
        fields = [ns.by, *(("provider", "name", "gpu") if ns.by == "instance" else ())]
        write_csv(
            [r.as_json(ns.by) for r in rows],
            [*fields, "usd", "hours", "estimated"],
            sys.stdout,
        )
        return 0
    demo_banner(services.demo)

    def money(usd: float, guess: bool) -> str:
        return ("~" if guess else "") + fmt.price(usd)

    if ns.by == "instance":
        columns = [
            Column("INSTANCE", max_width=40),
            Column("NAME", min_width=4, max_width=30, flex=True, keep=0),
            Column("GPU", min_width=5, max_width=16, flex=True, keep=1),
            Column("HOURS", ">"),
            Column("SPENT", ">"),
        ]
        table = [[r.key, r.name, r.gpu, f"{r.hours:,.2f}", money(r.usd, r.estimated)] for r in rows]
    else:
        columns = [Column(ns.by.upper()), Column("HOURS", ">"), Column("SPENT", ">")]
        table = [[r.key, f"{r.hours:,.2f}", money(r.usd, r.estimated)] for r in rows]
    if rows:
        print(render_table(columns, table))
    else:
        say(f"Nothing billed since {since:%Y-%m-%d %H:%M} UTC.")
    today, month = summary.today, summary.month
    say(
        f"{money(spent, estimated)} since {since:%Y-%m-%d %H:%M} UTC · now "
        f"{fmt.price(summary.per_hour)}/h · today {money(today.usd, today.estimated)}"
        f" · this month {money(month.usd, month.estimated)} (UTC)"
        + ("; ~ marks gpucm's estimates" if estimated or summary.month.estimated else "")
    )
    return 0
