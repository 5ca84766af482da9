"""The instance table of `gpucm instances`: at 80 columns the wide columns give way,
never the id."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import datetime

from gpucm import formatting as fmt
from gpucm.cli.output import print_json
from gpucm.cli.table import Column, render_table
from gpucm.domain.models import Instance
from gpucm.engine.confirmed_price import Confirmed, rate_move, shown_price
from gpucm.engine.instances import status_text
from gpucm.engine.spend import SpendReport, accrued, amount_text


def gpu_text(instance: Instance) -> str:
    model = instance.gpu_model or instance.gpu_name
    if not model:
        return "-"
    return f"{instance.gpu_count or 1}x {model}"


def ssh_text(instance: Instance) -> str:
    if not instance.ssh_host or instance.status != "running":
        return "-"
    user = f"{instance.ssh_user}@" if instance.ssh_user else ""
    return f"{user}{instance.ssh_host}:{instance.ssh_port or 22}"


def uptime(instance: Instance, now: datetime) -> str:
    if instance.status != "running" or instance.started_at is None:
        return "-"
    return fmt.duration(max(0.0, (now - instance.started_at).total_seconds()))


def spent_text(instance: Instance, now: datetime, report: SpendReport | None) -> str:
    """The machine's whole spend from the ledger (every run; ~ where estimated), or
    its current run's where the ledger has none."""
    amount = report.machine(instance.id) if report is not None else None
    if amount is not None:
        return amount_text(amount)
    return fmt.price(accrued(instance, now)) if instance.status != "terminated" else "-"


def price_text(instance: Instance, confirmed: Mapping[str, Confirmed | None]) -> str:
    """The price confirmed at launch (all-in), ▲/▼ when the provider bills another
    rate now; the provider's rate for a machine gpucm did not launch. As the TUI's
    instance manager shows it."""
    price = confirmed.get(instance.request_id or "")
    return fmt.price(shown_price(instance, price)) + (rate_move(instance, price) or " ")


def instances_table(
    instances: list[Instance],
    now: datetime,
    report: SpendReport | None = None,
    confirmed: Mapping[str, Confirmed | None] | None = None,
) -> str:
    # At 80 columns NAME, then GPU, then SSH give way (--json and `ssh --print` have
    # them whole); the ID never does: it is what the other commands take.
    columns = [
        Column("ID", max_width=60),
        Column("NAME", min_width=4, max_width=30, flex=True, keep=0),
        Column("GPU", min_width=5, max_width=20, flex=True, keep=1),
        Column("STATUS", max_width=19),
        Column("UPTIME", ">"),
        Column("$/H", ">"),
        Column("ACCRUED", ">"),
        Column("SSH", min_width=7, max_width=45, flex=True, keep=2),
    ]
    rows = [
        [
            i.id,
            i.name or "-",
            gpu_text(i),
            status_text(i),
            uptime(i, now),
            price_text(i, confirmed or {}),
            spent_text(i, now, report),
            ssh_text(i),
        ]
        for i in instances
    ]
    return render_table(columns, rows)


def print_instance(
    ns: argparse.Namespace,
    instance: Instance,
    report: SpendReport,
    confirmed: Mapping[str, Confirmed | None] | None = None,
) -> None:
    """One machine after an action on it; `report`: the ledger, read after the action,
    for its ACCRUED (without it the row said $0.000 where `list` says what it spent)."""
    if getattr(ns, "json", False):
        print_json(instance.model_dump(mode="json"))
    else:
        print(instances_table([instance], report.at, report, confirmed=confirmed))
