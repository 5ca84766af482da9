"""The engine's ports: the small Protocols it needs from the rest of gpucm — the store,
provider control, settings, the catalog and the clock.

The engine imports no store backend, no settings file and no composition root: the
composition root (services.py) passes in what fits these, and tests pass fakes. The
store's SQLite backend (store/store.py) fits the store ports; a PostgreSQL backend
fits them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import Clock
from gpucm.domain.hosts import BadHost, HostKind
from gpucm.domain.models import (
    Instance,
    LaunchRecord,
    LaunchState,
    MarketStats,
    Offer,
    ProviderHealth,
    SearchQuery,
)
from gpucm.domain.provider_names import display_name
from gpucm.providers.base import InstanceControl
from gpucm.store.results import (
    CommittedSpend,
    HistoryPoint,
    RefresherInfo,
    Resolution,
    SearchPage,
    SnapshotResult,
    SpendInterval,
    TeamEvent,
)

# -- the store ----------------------------------------------------------------------


class OfferReader(Protocol):
    async def get_offer(self, offer_id: str) -> Offer | None: ...

    async def search(self, query: SearchQuery, *, with_total: bool = True) -> SearchPage: ...


class OfferCounter(Protocol):
    async def count(self, query: SearchQuery) -> int: ...


class InstanceStore(Protocol):
    async def upsert(self, instance: Instance) -> None: ...

    async def replace_provider(self, provider: str, instances: Sequence[Instance]) -> None: ...

    async def list(
        self, *, providers: Iterable[str] = (), include_terminated: bool = False
    ) -> list[Instance]: ...

    async def get(self, instance_id: str) -> Instance | None: ...


class Journal(Protocol):
    """The launch journal, the budget's ledger. `begin` and `retry` decide on a
    reservation inside one transaction that no other writer can interleave with
    (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock)."""

    async def begin(
        self,
        *,
        request_id: str,
        provider: str,
        offer_id: str,
        label: str,
        request: dict[str, Any],
        fingerprint: str | None = None,
        reserve_per_hour: float = 0.0,
        admit: Callable[[CommittedSpend], None] | None = None,
    ) -> tuple[LaunchRecord, bool]: ...

    async def retry(
        self,
        request_id: str,
        *,
        provider: str,
        offer_id: str,
        reserve_per_hour: float = 0.0,
        admit: Callable[[CommittedSpend], None] | None = None,
    ) -> None: ...

    async def update(
        self,
        request_id: str,
        state: LaunchState,
        *,
        instance_id: str | None = None,
        error: str | None = None,
        provider: str | None = None,
        offer_id: str | None = None,
    ) -> None: ...

    async def settle(self, request_id: str, instance: Instance) -> LaunchRecord: ...

    async def committed(self) -> CommittedSpend: ...

    async def get(self, request_id: str) -> LaunchRecord | None: ...

    async def unsettled(self) -> list[LaunchRecord]: ...


class SpendReader(Protocol):
    """The spend ledger (store/spend_ledger.py); written with the instance rows."""

    async def intervals(
        self, since: datetime | None = None, *, instance_ids: Iterable[str] = ()
    ) -> list[SpendInterval]: ...


class Hosts(Protocol):
    """The memory of bad hosts (store/host_table.py)."""

    async def record(
        self,
        host: str,
        provider: str,
        kind: HostKind,
        reason: str,
        *,
        ttl: timedelta = ...,
        instance_id: str | None = None,
        once: bool = False,
    ) -> BadHost | None: ...


class LaunchStore(OfferReader, Protocol):
    """What launching and managing instances read and write."""

    @property
    def instances(self) -> InstanceStore: ...

    @property
    def hosts(self) -> Hosts: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def spend(self) -> SpendReader: ...


class RefreshStore(Protocol):
    """What the refresh workers write."""

    async def replace_offers(
        self, provider: str, offers: Sequence[Offer], *, fetched_at: datetime | None = None
    ) -> SnapshotResult: ...

    async def save_health(self, health: ProviderHealth) -> None: ...

    async def health(self) -> dict[str, ProviderHealth]: ...


class MarketStore(Protocol):
    """What market trends read."""

    async def stats_and_trend(
        self, query: SearchQuery | None, since: datetime, resolution: Resolution
    ) -> tuple[MarketStats, dict[str, list[float]]]: ...

    async def history(
        self,
        gpu_models: Iterable[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        providers: Iterable[str] = (),
        resolution: Resolution | None = None,
    ) -> list[HistoryPoint]: ...


class Outbox(Protocol):
    """The store's outbox of events out (store/event_outbox.py)."""

    async def add(self, key: str, kind: str, payload: dict[str, Any]) -> bool: ...


class Alerts(Protocol):
    async def claim(
        self, watch: str, channel: str, items: Sequence[tuple[str, str]]
    ) -> list[str]: ...

    async def release(self, watch: str, channel: str, keys: Iterable[str]) -> None: ...


class WatchStore(OfferReader, Protocol):
    """What watches read, and where they remember what they said."""

    async def count(self, query: SearchQuery) -> int: ...

    async def provider_counts(self, query: SearchQuery) -> dict[str, int]: ...

    @property
    def alerts(self) -> Alerts: ...


class Team(Protocol):
    """The team behind a shared store (PostgreSQL): who refreshes for everyone, and the
    changes the others make, heard as they commit. A one-user store has none."""

    @property
    def who(self) -> str:
        """This process's user@host."""
        ...

    @property
    def leading(self) -> bool:
        """This process is the team's refresher now."""
        ...

    async def try_lead(self) -> bool: ...

    async def resign(self) -> None: ...

    def on_lost(self, callback: Callable[[], None]) -> None: ...

    async def listen(self, listener: Callable[[TeamEvent], None]) -> None:
        """Hear each change as it commits; a RESYNC event says some may have been
        missed (the listening session was lost): read again all the listener follows."""
        ...

    async def ask_refresh(self, providers: list[str] | None = None) -> None: ...

    async def refresher(self) -> RefresherInfo | None: ...


# -- providers ------------------------------------------------------------------------


class ProviderNotConfigured(Exception):
    def __init__(self, provider: str) -> None:
        super().__init__(
            f"{display_name(provider)} is not configured: set its API key (see gpucm providers)"
        )
        self.provider = provider


class ProviderControls(Protocol):
    """The providers that are active now (configured, or the demo market's four)."""

    def provider_names(self) -> list[str]: ...

    def is_active(self, name: str) -> bool: ...

    def control(self, name: str) -> InstanceControl:
        """The provider's instance operations; raises ProviderNotConfigured."""
        ...


# -- settings ---------------------------------------------------------------------------


class BudgetLimits(Protocol):
    @property
    def max_hourly_usd(self) -> float | None: ...

    @property
    def monthly_usd(self) -> float | None: ...

    @property
    def warn_fraction(self) -> float: ...


class SettingsView(Protocol):
    @property
    def budget(self) -> BudgetLimits: ...

    def secrets(self) -> list[str]:
        """Every secret value, for scrubbing text before it is shown or stored."""
        ...


# -- everything the launch flow and the instance manager need --------------------------


@dataclass(frozen=True)
class EnginePorts:
    store: LaunchStore
    providers: ProviderControls
    settings: Callable[[], SettingsView]  # read afresh: the config file may change
    catalog: Callable[[], Catalog]
    clock: Clock
    who: str = ""  # user@host, recorded with each launch in a team's store
    events: Outbox | None = None  # where events out are recorded (engine/events.py)
