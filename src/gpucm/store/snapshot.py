"""Turning one provider's fresh offers into the rows of a snapshot replace.

Pure Python over the offers already in memory, so the write transaction is one DELETE
and two INSERTs: no upsert, no re-reading the table to count what changed, no GROUP BY
over the table for the history point. At 100,000 offers this more than halved the
refresh write (bench ingest_100k_offers).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from gpucm.domain.models import Offer
from gpucm.store.db import StoreError
from gpucm.store.rows import INSERT_INPUTS, encode_provider_data, offer_to_row
from gpucm.store.schema import DIRECT_COLUMNS, OFFER_COLUMNS

# id -> (price_per_hour, first_seen_at) of the provider's current rows
Previous = Mapping[str, tuple[float, float]]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building 100k tuples trips the cyclic GC dozens of times for nothing: none of
    them can form a cycle (research/probe-report.md 4.5: GC is half the cost)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_HISTORY_COLUMNS = ("gpu_model", "available", "price_per_hour", "gpu_count")
_of_row = itemgetter(*(OFFER_COLUMNS.index(c) for c in _HISTORY_COLUMNS))
_of_offer = itemgetter(*_HISTORY_COLUMNS)  # over an Offer's __dict__
# INSERT_INPUTS up to the network columns, over an Offer's __dict__
_leading = itemgetter(*INSERT_INPUTS[: INSERT_INPUTS.index("download_mbps")])
assert INSERT_INPUTS[: len(DIRECT_COLUMNS)] == DIRECT_COLUMNS
# a NaN binds as NULL (SQLite stores no NaN), and in one step where None looks for an
# adapter first: the previous price of a new offer
_NULL_REAL = float("nan")


class SnapshotBuilder:
    """Yields the rows lazily, for executemany to bind one at a time: measured 35%
    faster at 100k offers than building the list first (no 100k live tuples), and
    the work happens on the database thread, not the UI's event loop. The counts and
    history are ready once the rows have been consumed."""

    def __init__(
        self, offers: Sequence[Offer], previous: Previous, *, provider: str, when: float
    ) -> None:
        self._offers = offers
        self._previous = previous
        self._provider = provider
        self._when = when
        self._seen: set[str] = set()
        # (model, available, price, GPU count) of each offer written
        self._written: list[tuple[str, int, float, int]] = []
        self.added = 0
        self.price_changes = 0

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Every offer's row in OFFER_COLUMNS order (the PostgreSQL backend's COPY).
        Raises StoreError at an offer of another provider or one not normalised: the
        write's transaction then rolls back (checked here, in the one pass over the
        offers, rather than in a pass of its own: ~25 ms at 100k)."""
        previous, seen, written, when = self._previous, self._seen, self._written, self._when
        first_snapshot = not previous
        for offer in self._offers:
            oid = self._check(offer)
            if oid in seen:  # a provider listing one offer twice: keep the first
                continue
            seen.add(oid)
            old = previous.get(oid)
            if old is None:
                self.added += 1
                # on a provider's first snapshot nothing is "new": everything is
                row = offer_to_row(offer, fetched_at=when, is_new=0 if first_snapshot else 1)
            else:
                prev_price, first_seen = old
                if prev_price != offer.price_per_hour:
                    self.price_changes += 1
                row = offer_to_row(
                    offer, fetched_at=when, first_seen_at=first_seen, previous_price=prev_price
                )
            written.append(_of_row(row))
            yield row

    def values(self) -> Iterator[tuple[Any, ...]]:
        """The same offers as `rows`, as the values of `rows.insert_sql` (the SQLite
        backend's INSERT, which computes the derived columns): the offers' fields in
        one C call, the network's two, the provider's data, and a tail shared by every
        new offer. At 100k offers ~90 ms faster to build than `rows`, and ~40 ms faster
        to bind (bench ingest_100k_offers). Raises as `rows` does."""
        previous, seen, written, when = self._previous, self._seen, self._written, self._when
        seen_add, record, previous_get = seen.add, written.append, previous.get
        provider, encode = self._provider, encode_provider_data
        # on a provider's first snapshot nothing is "new": everything is
        new_tail = (_NULL_REAL, when, when, 0 if not previous else 1)
        added = price_changes = 0
        for offer in self._offers:
            d = offer.__dict__
            oid = d["id"]
            if d["provider"] != provider or not d["gpu_model"]:
                self._check(offer)  # raises
            if oid in seen:  # a provider listing one offer twice: keep the first
                continue
            seen_add(oid)
            old = previous_get(oid)
            if old is None:
                added += 1
                tail = new_tail
            else:
                if old[0] != d["price_per_hour"]:
                    price_changes += 1
                tail = (old[0], old[1], when, 0)
            net = d["network_info"].__dict__
            record(_of_offer(d))
            net_and_data = (net["download_mbps"], net["upload_mbps"], encode(d["provider_data"]))
            # concatenation, not unpacking: no list built and copied per offer
            yield _leading(d) + net_and_data + tail
        self.added, self.price_changes = added, price_changes

    def _check(self, offer: Offer) -> str:
        oid = offer.id
        if offer.provider != self._provider:
            raise StoreError(f"offer {oid} belongs to {offer.provider}, not {self._provider}")
        if not offer.gpu_model:
            raise StoreError(f"offer {oid} is not normalised (no gpu_model)")
        return oid

    @property
    def count(self) -> int:
        return len(self._seen)

    @property
    def removed(self) -> int:
        return len(self._previous.keys() - self._seen)

    @property
    def new_offers(self) -> int:
        return self.added if self._previous else 0

    def history(self) -> list[tuple[Any, ...]]:
        return _history(self._written, self._provider, int(self._when))


def _history(
    rows: list[tuple[str, int, float, int]], provider: str, ts: int
) -> list[tuple[Any, ...]]:
    """One point per GPU model: offers, available, and min/avg/max price per GPU-hour
    over the available offers."""
    counts: dict[str, int] = {}
    prices: dict[str, list[float]] = {}
    for model, available, price, gpu_count in rows:
        counts[model] = counts.get(model, 0) + 1
        if available:
            per_gpu = price / gpu_count  # as the row's price_per_gpu_hour
            bucket = prices.get(model)
            if bucket is None:
                prices[model] = [per_gpu]
            else:
                bucket.append(per_gpu)
    points: list[tuple[Any, ...]] = []
    for model, n in counts.items():
        p = prices.get(model)
        if p:
            points.append((ts, provider, model, n, len(p), min(p), sum(p) / len(p), max(p)))
        else:
            points.append((ts, provider, model, n, 0, None, None, None))
    return points
