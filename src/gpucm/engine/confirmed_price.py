"""The price a launch confirmation showed, kept by the launch journal, beside what the
provider bills now: what every front end shows as a machine's price."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass

from gpucm.domain.models import Instance, LaunchRecord
from gpucm.engine.ports import Journal

_SAME = 0.0005  # prices are shown to a tenth of a cent


@dataclass(frozen=True)
class Confirmed:
    """The all-in price a launch confirmation showed (the launch journal keeps it)."""

    per_hour: float
    compute_per_hour: float
    storage_per_hour: float
    storage_estimated: bool

    @classmethod
    def from_record(cls, record: LaunchRecord) -> Confirmed | None:
        """From the launch journal: the all-in rate the launch held against the budget
        (what its confirmation showed), split into compute and storage where the
        request kept the parts of that same price (a failover re-priced the total but
        not the parts: then they are left out). None for a machine gpucm did not
        launch, or a launch journaled before it kept a rate."""
        total = record.reserved_per_hour
        if not total:
            return None
        parts = record.request.get("confirmed")
        if isinstance(parts, Mapping):
            try:
                compute = float(parts["compute_per_hour"])
                storage = float(parts.get("storage_per_hour") or 0.0)
            except (KeyError, TypeError, ValueError):
                pass
            else:
                if abs(compute + storage - total) < _SAME:
                    return cls(total, compute, storage, bool(parts.get("storage_estimated")))
        return cls(total, total, 0.0, False)


def rate_move(instance: Instance, confirmed: Confirmed | None) -> str:
    """ "▲" or "▼" when the provider now bills a different compute rate than the one
    confirmed, else ""."""
    rate = instance.price_per_hour
    if confirmed is None or rate is None or abs(rate - confirmed.compute_per_hour) < _SAME:
        return ""
    return "▲" if rate > confirmed.compute_per_hour else "▼"


async def confirmed_prices(
    journal: Journal,
    instances: Iterable[Instance],
    known: MutableMapping[str, Confirmed | None] | None = None,
) -> MutableMapping[str, Confirmed | None]:
    """By request id, the confirmed price of each of `instances` gpucm launched (None
    for a launch that kept none), read from the journal once per request: `known`
    holds what was read before (a launch's confirmed price never changes)."""
    known = {} if known is None else known
    for instance in instances:
        request = instance.request_id
        if request and request not in known:
            record = await journal.get(request)
            known[request] = Confirmed.from_record(record) if record else None
    return known


def shown_price(instance: Instance, confirmed: Confirmed | None) -> float | None:
    """A machine's price in a list: the all-in price confirmed at launch, else what the
    provider bills."""
    return confirmed.per_hour if confirmed else instance.price_per_hour
