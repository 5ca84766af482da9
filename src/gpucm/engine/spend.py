"""What the user is spending: the hourly rate of what runs, cost accrued, the budget."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from gpucm import formatting as fmt
from gpucm.domain.models import BILLED, Instance
from gpucm.domain.pricing import HOURS_PER_MONTH
from gpucm.engine.ports import BudgetLimits


@dataclass(frozen=True)
class Spend:
    per_hour: float  # what the running and starting instances cost now
    accrued: float  # estimated, from each instance's start to now at its current rate
    instances: int

    @property
    def per_month(self) -> float:
        return self.per_hour * HOURS_PER_MONTH


def hours_running(instance: Instance, now: datetime) -> float:
    since = instance.started_at or instance.created_at
    if since is None or instance.status not in BILLED:
        return 0.0
    return max(0.0, (now - since).total_seconds() / 3600)


def accrued(instance: Instance, now: datetime) -> float:
    return (instance.price_per_hour or 0.0) * hours_running(instance, now)


def spend(instances: Iterable[Instance], now: datetime) -> Spend:
    billed = [i for i in instances if i.status in BILLED]
    return Spend(
        per_hour=sum(i.price_per_hour or 0.0 for i in billed),
        accrued=sum(accrued(i, now) for i in billed),
        instances=len(billed),
    )


@dataclass(frozen=True)
class BudgetCheck:
    problems: list[str]  # the launch would pass the budget: refuse it
    warnings: list[str]  # at or above the warning fraction


def check_budget(
    budget: BudgetLimits, committed_per_hour: float, extra_per_hour: float
) -> BudgetCheck:
    """Would adding `extra_per_hour` to what is committed (machines that bill, launches
    on their way) pass a budget? Hourly and monthly budgets are rates: a monthly budget
    is compared with the new rate held for a month."""
    problems: list[str] = []
    warnings: list[str] = []
    rate = committed_per_hour + extra_per_hour
    limits = []
    if budget.max_hourly_usd is not None:
        limits.append(("hourly", rate, budget.max_hourly_usd, "/h"))
    if budget.monthly_usd is not None:
        limits.append(("monthly", rate * HOURS_PER_MONTH, budget.monthly_usd, "/month"))
    for name, value, limit, unit in limits:
        if value > limit:
            problems.append(
                f"this launch would take spending to ${value:,.2f}{unit}, over the "
                f"{name} budget of ${limit:,.2f}{unit}"
            )
        elif value >= budget.warn_fraction * limit:
            warnings.append(
                f"spending would be ${value:,.2f}{unit}, {value / limit:.0%} of the {name} budget"
            )
    return BudgetCheck(problems, warnings)


def spend_line(instances: Iterable[Instance], now: datetime) -> str:
    """One sentence on what runs and what it has cost, for every front end."""
    current = spend(instances, now)
    if not current.instances:
        return "Nothing is running or starting: $0/h."
    noun = "instance" if current.instances == 1 else "instances"
    return (
        f"Spending {fmt.price(current.per_hour)}/h on {current.instances} running or "
        f"starting {noun}; about {fmt.price(current.accrued)} accrued (estimated)."
    )
