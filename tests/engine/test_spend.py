"""The spend ledger's arithmetic (engine/spend.py): UTC day and month boundaries,
grouping, estimates, and the monthly budget as spend so far plus the rate to the
month's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gpucm.config import BudgetSettings
from gpucm.engine.spend import check_budget, hours_left_in_month, ledger, summarize
from gpucm.store.results import SpendInterval


def interval(
    start: datetime,
    end: datetime | None,
    rate: float,
    *,
    instance: str = "runpod:a",
    provider: str = "runpod",
    reported: bool = True,
    kind: str = "compute",
) -> SpendInterval:
    return SpendInterval(
        instance_id=instance,
        provider=provider,
        name=instance.split(":")[1],
        gpu="1x H100",
        launched_by=None,
        kind=kind,  # type: ignore[arg-type]
        started_at=start,
        ended_at=end,
        rate=rate,
        reported=reported,
    )


MIDNIGHT = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)  # a month boundary, UTC


def test_days_and_months_split_at_utc_midnight() -> None:
    # 22:00 on 31 March to 02:00 on 1 April at $1/h, then a machine still running
    rows = [
        interval(MIDNIGHT - timedelta(hours=2), MIDNIGHT + timedelta(hours=2), 1.0),
        interval(MIDNIGHT + timedelta(hours=3), None, 2.0, instance="vast_ai:b",
                 provider="vast_ai", reported=False),
    ]  # fmt: skip
    now = MIDNIGHT + timedelta(hours=4)
    days = ledger(rows, MIDNIGHT - timedelta(days=30), now, "day")
    assert [(r.key, r.usd, r.estimated) for r in days] == [
        ("2026-03-31", pytest.approx(2.0), False),
        ("2026-04-01", pytest.approx(2.0 + 2.0), True),
    ]
    summary = summarize(rows, now)
    assert summary.today.usd == pytest.approx(4.0) and summary.today.estimated
    assert summary.month.usd == pytest.approx(4.0)  # March's two hours are last month
    assert summary.per_hour == 2.0 and summary.running == 1
    # a local time zone does not move the boundary
    later = (MIDNIGHT + timedelta(hours=4)).astimezone(
        datetime(2026, 1, 1, tzinfo=UTC).astimezone().tzinfo
    )
    assert summarize(rows, later).month.usd == pytest.approx(4.0)


def test_grouping_by_provider_and_instance_and_the_window() -> None:
    rows = [
        interval(MIDNIGHT, MIDNIGHT + timedelta(hours=10), 1.0),
        interval(MIDNIGHT + timedelta(hours=1), MIDNIGHT + timedelta(hours=2), 5.0,
                 instance="vast_ai:b", provider="vast_ai"),
        interval(MIDNIGHT + timedelta(hours=2), MIDNIGHT + timedelta(hours=12), 0.01,
                 instance="vast_ai:b", provider="vast_ai", kind="storage"),
    ]  # fmt: skip
    now = MIDNIGHT + timedelta(hours=12)
    by_provider = ledger(rows, MIDNIGHT, now, "provider")
    assert [(r.key, round(r.usd, 3)) for r in by_provider] == [("runpod", 10.0), ("vast_ai", 5.1)]
    by_instance = ledger(rows, MIDNIGHT, now, "instance")
    assert [r.key for r in by_instance] == ["runpod:a", "vast_ai:b"]
    assert by_instance[0].as_json("instance")["name"] == "a"
    # only what billed inside the window
    recent = ledger(rows, MIDNIGHT + timedelta(hours=9), now, "provider")
    assert [(r.key, round(r.usd, 3)) for r in recent] == [("runpod", 1.0), ("vast_ai", 0.03)]


def test_the_monthly_budget_counts_spend_so_far_and_the_rate_to_the_months_end() -> None:
    budget = BudgetSettings(monthly_usd=1000.0)
    now = MIDNIGHT - timedelta(hours=10)  # 10 hours left in March
    left = hours_left_in_month(now)
    assert left == pytest.approx(10.0)
    # $900 spent, $5/h running, $4/h more: 900 + 9 * 10 = 990, allowed (warned)
    check = check_budget(budget, 5.0, 4.0, month_spent=900.0, month_hours_left=left)
    assert not check.problems and check.warnings
    # $20/h more passes it: 900 + 25 * 10 = 1150
    check = check_budget(budget, 5.0, 20.0, month_spent=900.0, month_hours_left=left)
    assert check.problems and "$1,150.00" in check.problems[0]
    # the same rate early in a month with nothing spent is fine
    early = check_budget(budget, 0.0, 1.0, month_hours_left=hours_left_in_month(MIDNIGHT))
    assert not early.problems
