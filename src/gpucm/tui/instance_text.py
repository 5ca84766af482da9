"""What the instance manager says about a machine: why an action cannot run, what a
provider's API cannot do, uptime, SSH endpoint and the budget line. Shared by the
manager and its dialogs (pure functions over domain objects)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gpucm import formatting as fmt
from gpucm.domain.models import Instance
from gpucm.domain.provider_names import display_name
from gpucm.domain.vocabulary import BILLED
from gpucm.engine.capabilities import DISK_KEEPS_BILLING, capabilities
from gpucm.engine.confirmed_price import Confirmed, rate_move
from gpucm.engine.instances import ssh_command

if TYPE_CHECKING:
    from gpucm.config import BudgetSettings

__all__ = [
    "VERBS",
    "Confirmed",
    "budget_line",
    "limits_sentence",
    "price_sentence",
    "rate_move",
    "refusal",
    "rental_sentence",
    "ssh_endpoint",
    "uptime",
]

VERBS: dict[str, str] = {
    "stop": "Stopping",
    "start": "Starting",
    "restart": "Restarting",
    "terminate": "Terminating",
}


def refusal(instance: Instance | None, action: str) -> str | None:
    """Why an action cannot run on an instance now (None: it can)."""
    if instance is None:
        return "No instance selected."
    caps = capabilities(instance.provider)
    name = display_name(instance.provider)
    label = instance.name or instance.id
    if instance.status == "terminated" and action != "detail":
        return f"{label} is terminated."
    if action in ("stop", "start") and not caps.stop_start:
        return f"{name} cannot stop or start a machine: terminate it instead."
    if action == "restart" and not caps.restart:
        return f"{name} has no restart: stop, then start it."
    if action == "stop" and instance.status not in ("running", "provisioning"):
        return f"{label} is {instance.status}: nothing to stop."
    if action == "start" and instance.status != "stopped":
        return f"{label} is {instance.status}: only a stopped machine starts."
    if action == "restart" and instance.status != "running":
        return f"{label} is {instance.status}: only a running machine restarts."
    if action == "logs" and not caps.logs:
        return f"{name}'s API has no logs: connect over SSH (s)."
    if action in ("ssh", "copy_ssh") and ssh_command(instance) is None:
        return f"{label} has no SSH endpoint yet ({instance.status})."
    return None


def rental_sentence(instance: Instance) -> str:
    """What renting it interruptible means now: "" for an on-demand machine."""
    if instance.status_reason == "outbid":
        return (
            f"Stopped because a higher bid took the machine (outbid); {DISK_KEEPS_BILLING} "
            "until you terminate it."
        )
    if instance.status_reason == "preempted":
        return f"Stopped by the provider (preempted); {DISK_KEEPS_BILLING} until you terminate it."
    if instance.interruptible:
        return f"Interruptible (spot): it stops when outbid; {DISK_KEEPS_BILLING}."
    return ""


def limits_sentence(provider: str) -> str:
    """What a provider's API cannot do to its machines, said once under the table:
    "Lambda Cloud cannot stop or start a machine (terminate it instead) and cannot
    show logs (use SSH)." """
    caps = capabilities(provider)
    missing = []
    if not caps.stop_start:
        missing.append("cannot stop or start a machine (terminate it instead)")
    if not caps.restart:
        machine = "one" if missing else "a machine"
        missing.append(f"cannot restart {machine} (stop, then start it)")
    if not caps.logs:
        missing.append("cannot show logs (use SSH)")
    if not missing:
        return ""
    said = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    return f"{display_name(provider)} {said}."


def ssh_endpoint(instance: Instance) -> str:
    if not instance.ssh_host or instance.status != "running":
        return "-"
    host = f"{instance.ssh_user}@{instance.ssh_host}" if instance.ssh_user else instance.ssh_host
    port = instance.ssh_port
    return f"{host}:{port}" if port and port != 22 else host


def uptime(instance: Instance, now: datetime) -> str:
    since = instance.started_at or instance.created_at
    if since is None or instance.status not in ("running", "provisioning"):
        return "-"
    return fmt.duration(now - since)


def budget_line(
    budget: BudgetSettings, per_hour: float, month_end: float = 0.0, *, short: bool = False
) -> tuple[str, float] | None:
    """The budget as `$x/h of $y/h (z%)` (and the month as spent plus the rate to its
    end, against the monthly budget), and its fullest fraction; None if none is set.
    `short`: the percentages only, for a narrow header."""
    parts: list[str] = []
    fullest = 0.0
    if budget.max_hourly_usd is not None:
        fraction = per_hour / budget.max_hourly_usd
        fullest = max(fullest, fraction)
        parts.append(
            f"{fraction:.0%} of {fmt.price(budget.max_hourly_usd)}/h"
            if short
            else f"{fmt.price(per_hour)}/h of {fmt.price(budget.max_hourly_usd)}/h ({fraction:.0%})"
        )
    if budget.monthly_usd is not None:
        fraction = month_end / budget.monthly_usd
        fullest = max(fullest, fraction)
        parts.append(
            f"{fraction:.0%} of {fmt.price(budget.monthly_usd)}/mo"
            if short
            else f"month-end {fmt.price(month_end)} of {fmt.price(budget.monthly_usd)} "
            f"({fraction:.0%})"
        )
    if not parts:
        return None
    return "budget " + ", ".join(parts), fullest


def price_sentence(instance: Instance, confirmed: Confirmed | None) -> str:
    """The price line of a machine: the price confirmed at launch, the provider's rate
    beside it, and why they differ."""
    rate = instance.price_per_hour
    name = display_name(instance.provider)
    # a stopped machine's rate is what it bills while it runs: not what bills now
    idle = (
        f"{instance.status}: no compute billed now ({name}'s rate while it runs: "
        f"{fmt.price(rate)}/h)"
        if instance.status not in BILLED and rate is not None
        else None
    )
    if confirmed is None:
        return idle or f"{name} bills {fmt.price(rate)}/h"
    line = f"confirmed {fmt.price(confirmed.per_hour)}/h all-in"
    if confirmed.storage_per_hour:
        estimated = ", estimated" if confirmed.storage_estimated else ""
        line += (
            f" ({fmt.price(confirmed.compute_per_hour)} compute"
            f" + {fmt.price(confirmed.storage_per_hour)} storage{estimated})"
        )
    move = rate_move(instance, confirmed)
    if rate is None:
        return line + f"; {name} reports no rate"
    if idle is not None:
        return f"{line}; {idle}"
    if not move:
        billed = "for compute, storage apart" if confirmed.storage_per_hour else "now"
        return line + f"; {name} bills {fmt.price(rate)}/h {billed}"
    why = "rose" if move == "▲" else "fell"
    return (
        line + f"; {name} now bills {fmt.price(rate)}/h for compute: its rate {why}"
        " since the launch (market pricing)"
    )
