"""What the user (or the team) is spending: the hourly rate of what runs, the spend
ledger's totals (today, this month, any window), and the budget.

The ledger (store/spend_ledger.py) holds every machine's billed intervals; everything
here is arithmetic over them and a clock, so a front end can tick its figures every
second without reading the store. Days and months are UTC (domain/clock.py). A figure
is an estimate when any interval in it is: gpucm's rate, not the provider's billed one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from gpucm import formatting as fmt
from gpucm.domain.clock import day_start, month_end, month_start
from gpucm.domain.models import BILLED, Instance
from gpucm.domain.pricing import HOURS_PER_MONTH
from gpucm.engine.ports import BudgetLimits, SpendReader
from gpucm.store.results import SpendInterval

GroupBy = Literal["provider", "day", "instance"]
GROUP_BYS: tuple[GroupBy, ...] = get_args(GroupBy)


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
    """The current run at the current rate (for an instance the ledger does not know)."""
    return (instance.price_per_hour or 0.0) * hours_running(instance, now)


def spend(instances: Iterable[Instance], now: datetime) -> Spend:
    billed = [i for i in instances if i.status in BILLED]
    return Spend(
        per_hour=sum(i.price_per_hour or 0.0 for i in billed),
        accrued=sum(accrued(i, now) for i in billed),
        instances=len(billed),
    )


# -- the ledger's figures ---------------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    usd: float
    estimated: bool  # some of it is gpucm's estimate, not a rate the provider billed

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.usd + other.usd, self.estimated or other.estimated)


ZERO = Amount(0.0, False)


def total(intervals: Iterable[SpendInterval], since: datetime | None, until: datetime) -> Amount:
    """What the intervals billed between `since` (the beginning without it) and `until`."""
    out = ZERO
    for interval in intervals:
        usd = interval.cost(since, until)
        if usd > 0 or (interval.ended_at is None and interval.started_at <= until):
            out = out + Amount(usd, not interval.reported)
    return out


@dataclass(frozen=True)
class SpendSummary:
    """The instance manager's header: what bills now, today and this month (UTC)."""

    per_hour: float  # every open interval: running machines and stopped disks
    running: int  # machines billing compute now
    today: Amount
    month: Amount


def summarize(intervals: Iterable[SpendInterval], now: datetime) -> SpendSummary:
    rows = list(intervals)
    live = [i for i in rows if i.ended_at is None]
    return SpendSummary(
        per_hour=sum(i.rate for i in live),
        running=len({i.instance_id for i in live if i.kind == "compute"}),
        today=total(rows, day_start(now), now),
        month=total(rows, month_start(now), now),
    )


def by_instance(intervals: Iterable[SpendInterval], now: datetime) -> dict[str, Amount]:
    """Each machine's whole spend, every run of it, to `now`."""
    out: dict[str, Amount] = defaultdict(lambda: ZERO)
    for interval in intervals:
        out[interval.instance_id] = out[interval.instance_id] + total([interval], None, now)
    return dict(out)


@dataclass(frozen=True)
class LedgerRow:
    """One line of `gpucm spend`: a provider, a UTC day or a machine."""

    key: str
    usd: float
    hours: float  # billed hours (compute and storage) in the window
    estimated: bool
    provider: str = ""
    name: str = ""
    gpu: str = ""

    def as_json(self, by: GroupBy) -> dict[str, object]:
        out: dict[str, object] = {by: self.key}
        if by == "instance":
            out.update(provider=self.provider, name=self.name, gpu=self.gpu)
        out.update(usd=round(self.usd, 4), hours=round(self.hours, 3), estimated=self.estimated)
        return out


def _days(start: datetime, end: datetime) -> Iterable[tuple[datetime, datetime]]:
    day = day_start(start)
    while day < end:
        following = day + timedelta(days=1)
        yield max(day, start), min(following, end)
        day = following


def ledger(
    intervals: Iterable[SpendInterval], since: datetime, now: datetime, by: GroupBy
) -> list[LedgerRow]:
    """The ledger from `since` to `now`, grouped; largest first, days in order."""
    usd: dict[str, float] = defaultdict(float)
    hours: dict[str, float] = defaultdict(float)
    estimated: dict[str, bool] = defaultdict(bool)
    about: dict[str, SpendInterval] = {}
    for interval in intervals:
        start = max(interval.started_at, since)
        end = now if interval.ended_at is None else min(interval.ended_at, now)
        if end < start:  # billed wholly before the window
            continue
        if by == "day":
            pieces = [(a.date().isoformat(), a, b) for a, b in _days(start, end)]
        else:
            key = interval.provider if by == "provider" else interval.instance_id
            pieces = [(key, start, end)]
        for key, a, b in pieces:
            span = max(0.0, (b - a).total_seconds()) / 3600
            usd[key] += interval.rate * span
            hours[key] += span
            estimated[key] = estimated[key] or not interval.reported
            about[key] = interval
    rows = [
        LedgerRow(
            key,
            usd[key],
            hours[key],
            estimated[key],
            provider=about[key].provider,
            name=about[key].name,
            gpu=about[key].gpu,
        )
        for key in usd
    ]
    if by == "day":
        return sorted(rows, key=lambda r: r.key)
    return sorted(rows, key=lambda r: (-r.usd, r.key))


def estimate_mark(amount: Amount) -> str:
    """`~` before a figure gpucm estimated (see the legend where it is shown)."""
    return "~" if amount.estimated else ""


# -- the budget ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetCheck:
    problems: list[str]  # the launch would pass the budget: refuse it
    warnings: list[str]  # at or above the warning fraction


def hours_left_in_month(now: datetime) -> float:
    return max(0.0, (month_end(now) - now).total_seconds() / 3600)


def check_budget(
    budget: BudgetLimits,
    committed_per_hour: float,
    extra_per_hour: float,
    *,
    month_spent: float = 0.0,
    month_hours_left: float = HOURS_PER_MONTH,
) -> BudgetCheck:
    """Would adding `extra_per_hour` to what is committed (machines that bill, launches
    on their way) pass a budget? The hourly budget is a rate. The monthly budget is
    this month's real spend so far (the ledger) plus the new rate held to the month's
    end (UTC): what the month will cost if nothing is stopped."""
    problems: list[str] = []
    warnings: list[str] = []
    rate = committed_per_hour + extra_per_hour
    # (budget, what it measures, the figure, its limit, the figure and limit as shown)
    limits: list[tuple[str, str, float, float, str, str]] = []
    if budget.max_hourly_usd is not None:
        cap = budget.max_hourly_usd
        limits.append(("hourly", "spending", rate, cap, f"${rate:,.2f}/h", f"${cap:,.2f}/h"))
    if budget.monthly_usd is not None:
        cap = budget.monthly_usd
        month = month_spent + rate * month_hours_left
        shown = (
            f"${month:,.2f} (${month_spent:,.2f} spent so far + ${rate:,.2f}/h to the month's end)"
        )
        limits.append(("monthly", "this month's spending", month, cap, shown, f"${cap:,.2f}"))
    for name, what, value, cap, shown, cap_shown in limits:
        if value > cap:
            problems.append(
                f"this launch would take {what} to {shown}, over the {name} budget of {cap_shown}"
            )
        elif value >= budget.warn_fraction * cap:
            warnings.append(f"{what} would be {shown}, {value / cap:.0%} of the {name} budget")
    return BudgetCheck(problems, warnings)


@dataclass(frozen=True)
class SpendReport:
    """The ledger as the front ends show it at one moment; `tick` moves it on
    without reading the store (open intervals bill on at their rate)."""

    intervals: tuple[SpendInterval, ...]
    at: datetime

    @property
    def summary(self) -> SpendSummary:
        return summarize(self.intervals, self.at)

    def machine(self, instance_id: str) -> Amount | None:
        """One machine's whole spend, every run of it (None: the ledger has none)."""
        rows = [i for i in self.intervals if i.instance_id == instance_id]
        return total(rows, None, self.at) if rows else None

    def machines(self) -> dict[str, Amount]:
        return by_instance(self.intervals, self.at)

    def tick(self, now: datetime) -> SpendReport:
        return SpendReport(self.intervals, now)


def ledger_json(
    rows: list[LedgerRow], by: GroupBy, since: datetime, now: datetime, summary: SpendSummary
) -> dict[str, object]:
    """The ledger as `gpucm spend --json` and `GET /api/v1/spend` give it."""
    return {
        "since": since.isoformat(),
        "until": now.isoformat(),
        "by": by,
        "currency": "USD",
        "timezone": "UTC",
        "total_usd": round(sum(r.usd for r in rows), 4),
        "estimated": any(r.estimated for r in rows),
        "running_per_hour": round(summary.per_hour, 4),
        "running": summary.running,
        "today_usd": round(summary.today.usd, 4),
        "today_estimated": summary.today.estimated,
        "month_usd": round(summary.month.usd, 4),
        "month_estimated": summary.month.estimated,
        "rows": [r.as_json(by) for r in rows],
    }


async def read_ledger(
    spend: SpendReader, since: datetime, now: datetime, by: GroupBy
) -> tuple[list[LedgerRow], SpendSummary]:
    """The ledger's rows from `since` and the summary (today, this month) at `now`."""
    intervals = await spend.intervals(min(since, month_start(now)))
    return ledger(intervals, since, now, by), summarize(intervals, now)


def summary_line(summary: SpendSummary) -> str:
    """One sentence on what bills now and what it has cost (UTC day and month)."""
    noun = "machine" if summary.running == 1 else "machines"
    return (
        f"Spending {fmt.price(summary.per_hour)}/h ({summary.running} {noun} running);"
        f" today {amount_text(summary.today)}, this month {amount_text(summary.month)} (UTC)"
        + (" (~ estimated)" if summary.month.estimated else "")
        + "."
    )


def amount_text(amount: Amount) -> str:
    return estimate_mark(amount) + fmt.price(amount.usd)


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
