"""Price watches: a saved filter plus conditions, checked after each refresh.

Each condition fires once per thing it is about, per channel (the TUI and `gpucm watch`
each hear every alert once): once per offer at or under the price, once when the
count of matching offers reaches N (re-armed when it drops below), once per provider
that starts offering the filter after the watch first looked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gpucm import formatting as fmt
from gpucm.domain.models import Offer
from gpucm.domain.provider_names import display_name
from gpucm.engine.ports import WatchStore
from gpucm.presets import PresetBook, Watch

AlertKind = Literal["price", "offers", "provider"]
MAX_OFFERS_PER_CHECK = 100
_BASELINE = "provider-baseline"


@dataclass(frozen=True)
class Alert:
    watch: str
    kind: AlertKind
    message: str
    offers: tuple[Offer, ...] = ()
    providers: tuple[str, ...] = ()
    count: int | None = None
    conditions: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "watch": self.watch,
            "kind": self.kind,
            "message": self.message,
            "count": self.count,
            "providers": list(self.providers),
            "offers": [o.model_dump(mode="json", exclude={"gpu_info"}) for o in self.offers],
        }


def _offer_phrase(offer: Offer) -> str:
    provider = display_name(offer.provider)
    return (
        f"{offer.gpu_count}x {offer.gpu_model} at {provider}"
        f" {fmt.price(offer.price_per_hour)}/h ({offer.region or 'region unknown'})"
    )


class WatchChecker:
    def __init__(self, store: WatchStore, channel: str) -> None:
        self.store = store
        self.channel = channel

    async def check(self, book: PresetBook) -> list[Alert]:
        alerts: list[Alert] = []
        for watch in book.watches.values():
            alerts.extend(await self.check_one(watch))
        return alerts

    async def check_one(self, watch: Watch) -> list[Alert]:
        alerts: list[Alert] = []
        if watch.price_at_or_under is not None:
            alert = await self._price(watch, watch.price_at_or_under)
            if alert:
                alerts.append(alert)
        if watch.min_offers is not None:
            alert = await self._count(watch, watch.min_offers)
            if alert:
                alerts.append(alert)
        if watch.new_provider:
            alert = await self._providers(watch)
            if alert:
                alerts.append(alert)
        return alerts

    async def _price(self, watch: Watch, bound: float) -> Alert | None:
        query = watch.query()
        cap = bound if query.max_price is None else min(bound, query.max_price)
        page = await self.store.search(
            query.model_copy(
                update={
                    "max_price": cap,
                    "limit": MAX_OFFERS_PER_CHECK,
                    "offset": 0,
                    "sort_by": "price",
                    "sort_order": "asc",
                }
            ),
            with_total=False,
        )
        offers = {f"price<={bound:g}:{o.id}": o for o in page.offers}
        fresh = await self.store.alerts.claim(
            watch.name,
            self.channel,
            [(k, f"{o.price_per_hour:g}") for k, o in offers.items()],
        )
        if not fresh:
            return None
        new = [offers[k] for k in fresh]
        new.sort(key=lambda o: o.price_per_hour)
        first = _offer_phrase(new[0])
        more = f" and {len(new) - 1} more" if len(new) > 1 else ""
        return Alert(
            watch.name,
            "price",
            f"{watch.name}: {first}{more}, at or under {fmt.price(bound)}/h",
            offers=tuple(new),
        )

    async def _count(self, watch: Watch, wanted: int) -> Alert | None:
        count = await self.store.count(watch.query())
        key = f"offers>={wanted}"
        if count < wanted:
            await self.store.alerts.release(watch.name, self.channel, [key])
            return None
        if not await self.store.alerts.claim(watch.name, self.channel, [(key, str(count))]):
            return None
        return Alert(
            watch.name,
            "offers",
            f"{watch.name}: {count} offers match (watching for at least {wanted})",
            count=count,
        )

    async def _providers(self, watch: Watch) -> Alert | None:
        counts = await self.store.provider_counts(watch.query())
        items = [(f"provider:{p}", str(n)) for p, n in sorted(counts.items()) if n]
        fresh = await self.store.alerts.claim(watch.name, self.channel, [(_BASELINE, ""), *items])
        if _BASELINE in fresh or not fresh:
            return None  # the first look only records who offers it already
        names = tuple(k.removeprefix("provider:") for k in fresh)
        shown = ", ".join(display_name(n) for n in names)
        return Alert(
            watch.name,
            "provider",
            f"{watch.name}: now also offered by {shown}",
            providers=names,
        )
