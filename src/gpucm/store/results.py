"""What the store's interface answers, whatever the backend: plain values with no SQL
and no connection, so the engine can read them without importing a backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from gpucm.domain.models import Offer
from gpucm.domain.vocabulary import RESOLUTIONS as RESOLUTIONS
from gpucm.domain.vocabulary import Resolution as Resolution

# How long each resolution of the price history is kept (the daily rollup for ever).
RAW_RETENTION = timedelta(days=3)
HOURLY_RETENTION = timedelta(days=90)


@dataclass(frozen=True)
class SnapshotResult:
    """What one provider's refresh changed in the store."""

    provider: str
    offers: int
    added: int
    removed: int
    price_changes: int


@dataclass(frozen=True)
class SearchPage:
    """One page of a search, and how many offers match in all (-1: not counted)."""

    offers: list[Offer]
    total: int


@dataclass(frozen=True)
class ProviderPrices:
    """One provider's offers of a GPU model, and their price range."""

    provider: str
    offers: int
    min_price: float
    max_price: float
    min_gpu_price: float
    avg_gpu_price: float
    max_gpu_price: float


@dataclass(frozen=True)
class CommittedSpend:
    """What is already spoken for when a launch asks for budget: the machines that bill
    now and the launches on their way. Each machine gpucm launched counts at the
    all-in rate it was reserved at when that is more than its provider lists (storage
    billed apart), so a settled launch never frees budget it still uses."""

    running_per_hour: float
    running: int
    in_flight_per_hour: float
    in_flight: int
    # this calendar month's spend so far (UTC), from the spend ledger
    month_spent: float = 0.0

    @property
    def per_hour(self) -> float:
        return self.running_per_hour + self.in_flight_per_hour


SpendKind = Literal["compute", "storage"]


@dataclass(frozen=True)
class SpendInterval:
    """One stretch of a machine's billing at one rate (store/spend_ledger.py):
    compute while it runs or starts, storage while it is stopped and its provider
    bills the disk. Open (no `ended_at`) while it lasts."""

    instance_id: str
    provider: str
    name: str
    gpu: str
    launched_by: str | None
    kind: SpendKind
    started_at: datetime
    ended_at: datetime | None
    rate: float  # $/h
    reported: bool  # the provider's own billed rate, not gpucm's estimate

    def cost(self, since: datetime | None, until: datetime) -> float:
        """What this interval billed between `since` and `until` (an open one runs
        to `until`)."""
        start = self.started_at if since is None else max(self.started_at, since)
        end = until if self.ended_at is None else min(self.ended_at, until)
        return self.rate * max(0.0, (end - start).total_seconds()) / 3600


@dataclass(frozen=True)
class HistoryPoint:
    """One provider's market for one GPU model at a moment (raw) or over a bucket (the
    bucket's start; offers and available are then means per refresh)."""

    ts: datetime
    provider: str
    gpu_model: str
    offers: float
    available: float
    min_gpu_price: float | None
    avg_gpu_price: float | None
    max_gpu_price: float | None
    samples: int = 1

    JSON_FIELDS: ClassVar[tuple[str, ...]] = (
        "ts",
        "provider",
        "gpu_model",
        "offers",
        "available",
        "min_price_per_gpu_hour",
        "avg_price_per_gpu_hour",
        "max_price_per_gpu_hour",
        "samples",
    )

    def as_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "provider": self.provider,
            "gpu_model": self.gpu_model,
            "offers": _round(self.offers),
            "available": _round(self.available),
            "min_price_per_gpu_hour": self.min_gpu_price,
            "avg_price_per_gpu_hour": None
            if self.avg_gpu_price is None
            else round(self.avg_gpu_price, 6),
            "max_price_per_gpu_hour": self.max_gpu_price,
            "samples": self.samples,
        }


def _round(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


def resolution_for(span: timedelta | None) -> Resolution:
    """The finest resolution that still holds the whole span: raw points are pruned
    after RAW_RETENTION, hourly ones after HOURLY_RETENTION."""
    if span is None or span <= RAW_RETENTION - timedelta(hours=1):
        return "raw"
    if span <= HOURLY_RETENTION - timedelta(days=1):
        return "hourly"
    return "daily"


# A team store's notification that asks the team's refresher for a round.
REFRESH_REQUEST = "refresh-request"
# Not a notification: the listening session ended and is back (store/pg/team.py), and
# what was said in between is lost: each listener reads again everything it follows.
RESYNC = "resync"


@dataclass(frozen=True)
class TeamEvent:
    """A change another process sharing a team store committed (or this one made)."""

    topic: str  # offers, health, instances, launches, watches, refresh-request, resync
    details: tuple[str, ...]  # providers, request ids
    by: str  # user@host of the process that made the change
    own: bool  # made by this process


@dataclass(frozen=True)
class RefresherInfo:
    """Who refreshes for a team (or last did)."""

    who: str
    since: datetime | None
    alive: bool  # holds the lock now


@dataclass(frozen=True)
class OutboxEvent:
    """An event out, claimed from the store's outbox for sending."""

    key: str
    kind: str
    created_at: float
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class ArmedWatch:
    """A watch's launch action as armed in the store (store/armed_watches.py): what
    the team's refresher needs to fire it, whoever armed it. `template` is the launch
    template's settings (env NAMES only, never a value), `conditions` the watch's
    price_at_or_under and min_offers; `armed` is the arming's stamp, part of each
    machine's request id."""

    owner: str  # the OS user whose watch it is (filters.toml holds its definition)
    watch: str
    armed: str
    query: str
    conditions: dict[str, Any]
    template: dict[str, Any]
    armed_at: datetime
    armed_by: str  # user@host
    disarmed_at: datetime | None = None
    disarmed_by: str | None = None
    disarm_reason: str | None = None  # launched, manual, redefined

    @property
    def is_armed(self) -> bool:
        return self.disarmed_at is None
