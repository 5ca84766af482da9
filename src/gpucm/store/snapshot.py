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
from typing import Any

from gpucm.domain.models import Offer
from gpucm.store.db import StoreError
from gpucm.store.rows import offer_to_row
from gpucm.store.schema import OFFER_COLUMNS

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


_MODEL = OFFER_COLUMNS.index("gpu_model")
_AVAILABLE = OFFER_COLUMNS.index("available")
_PER_GPU = OFFER_COLUMNS.index("price_per_gpu_hour")


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
        self._written: list[tuple[str, int, float]] = []  # (model, available, per GPU)
        self.added = 0
        self.price_changes = 0

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """Raises StoreError at an offer of another provider or one not normalised: the
        write's transaction then rolls back (checked here, in the one pass over the
        offers, rather than in a pass of its own: ~25 ms at 100k)."""
        previous, seen, written, when = self._previous, self._seen, self._written, self._when
        provider = self._provider
        first_snapshot = not previous
        for offer in self._offers:
            oid = offer.id
            if offer.provider != provider:
                raise StoreError(f"offer {oid} belongs to {offer.provider}, not {provider}")
            if not offer.gpu_model:
                raise StoreError(f"offer {oid} is not normalised (no gpu_model)")
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
            written.append((row[_MODEL], row[_AVAILABLE], row[_PER_GPU]))
            yield row

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


def _history(rows: list[tuple[str, int, float]], provider: str, ts: int) -> list[tuple[Any, ...]]:
    """One point per GPU model: offers, available, and min/avg/max price per GPU-hour
    over the available offers."""
    counts: dict[str, int] = {}
    prices: dict[str, list[float]] = {}
    for model, available, per_gpu in rows:
        counts[model] = counts.get(model, 0) + 1
        if available:
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
