"""Turning one provider's fresh offers into the rows of a snapshot replace.

Pure Python over the offers already in memory, so the write transaction is one DELETE
and two INSERTs: no upsert, no re-reading the table to count what changed, no GROUP BY
over the table for the history point. At 100,000 offers this more than halved the
refresh write (bench ingest_100k_offers).
"""

from __future__ import annotations

import gc
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import compress, repeat
from operator import add, attrgetter, countOf, index, itemgetter, ne, truediv
from typing import Any

from gpucm.domain.models import Offer
from gpucm.store.db import StoreError
from gpucm.store.rows import OWN_FIELDS, encode_each_provider_data, offer_to_row

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


# Readers over an Offer's __dict__ (each one C call).
_own_fields = itemgetter(*OWN_FIELDS)  # then the rest of rows.INSERT_INPUTS, in order
_dict_of = attrgetter("__dict__")
_id_of = itemgetter("id")
_provider_of = itemgetter("provider")
_model_of = itemgetter("gpu_model")
_available_of = itemgetter("available")
_verified_of = itemgetter("verified")
_network_of = itemgetter("network_info")
_price_of = itemgetter("price_per_hour")
_count_of = itemgetter("gpu_count")
_download_of = attrgetter("download_mbps")
_upload_of = attrgetter("upload_mbps")
_first = itemgetter(0)
_second = itemgetter(1)
# a NaN binds as NULL (SQLite stores no NaN), and in one step where None looks for an
# adapter first: the previous price of a new offer, an unknown `verified`
_NULL_REAL = float("nan")
# the previous (price, first sighting) of an offer not in the provider's last snapshot
_NEW = (_NULL_REAL, _NULL_REAL)
# `verified` as bound; a bool would look for an adapter first (~450 ns)
_verified_bound = {True: 1, False: 0, None: _NULL_REAL}.__getitem__


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
        # the __dict__ of each offer written, for the history point
        self._written: list[dict[str, Any]] = []
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
            written.append(offer.__dict__)
            yield row

    def values(self, *, bind_when: bool) -> Iterator[tuple[Any, ...]]:
        """The same offers as `rows`, as the values of `rows.insert_sql` (the SQLite
        backend's INSERT, which computes the rest): the offers' fields in one C call,
        then one tuple of the rest (the network's two, the flags as ints, the provider's
        data, the previous price and first sighting, then the refresh's time if
        `bind_when`). Raises as `rows` does, before the first row.

        Each row is made by a chain of C iterators (map, zip, itemgetter), not by a
        Python loop: no bytecode runs per offer. At 100,000 offers that builds the
        rows in ~60% of the time the loop took (bench ingest_100k_offers). The rest
        comes from one zip, which hands back the same tuple each time (the row's
        concatenation keeps none of it): one new tuple per row, the row itself."""
        self._written = dicts = self._unique_dicts()
        n = len(dicts)
        previous = self._previous
        if previous:
            olds = list(map(previous.get, map(_id_of, dicts), repeat(_NEW)))
            self.added = olds.count(_NEW)
            # a new offer's NaN differs from every price: counted, then taken off
            self.price_changes = countOf(map(ne, map(_first, olds), map(_price_of, dicts)), True)
            self.price_changes -= self.added
            prices: Iterable[float] = map(_first, olds)
            firsts: Iterable[float] = map(_second, olds)
        else:
            self.added, self.price_changes = n, 0
            prices, firsts = repeat(_NULL_REAL, n), repeat(_NULL_REAL, n)
        rest = zip(
            map(_download_of, map(_network_of, dicts)),
            map(_upload_of, map(_network_of, dicts)),
            map(index, map(_available_of, dicts)),  # the bool as an int
            map(_verified_bound, map(_verified_of, dicts)),
            encode_each_provider_data(dicts),
            prices,
            firsts,
            *([repeat(self._when, n)] if bind_when else []),
            strict=True,
        )
        yield from map(add, map(_own_fields, dicts), rest)

    def _unique_dicts(self) -> list[dict[str, Any]]:
        """The offers' __dict__s, the first of each id; raises StoreError at the first
        offer of another provider or not normalised. Checked in C over all the offers
        at once (~10 ms at 100k); the loop that names the culprit runs only on failure."""
        dicts = list(map(_dict_of, self._offers))
        if set(map(_provider_of, dicts)) - {self._provider} or not all(map(_model_of, dicts)):
            for offer in self._offers:
                self._check(offer)
        self._seen = seen = set(map(_id_of, dicts))
        if len(seen) == len(dicts):
            return dicts
        # a provider listing one offer twice: keep the first
        firsts: dict[str, dict[str, Any]] = {}
        for d in dicts:
            firsts.setdefault(d["id"], d)
        return list(firsts.values())

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


def _history(dicts: list[dict[str, Any]], provider: str, ts: int) -> list[tuple[Any, ...]]:
    """One point per GPU model: offers, available, and min/avg/max price per GPU-hour
    over the available offers. Gathered by C iterators over the offers' __dict__s (as
    fast as the Python loop over a tuple per offer it replaces, which the write's rows
    had to gather first): the prices of each model in the offers' order, so the sums
    are the same to the last bit."""
    counts = Counter(map(_model_of, dicts))  # in the order models first appear
    available = list(compress(dicts, map(_available_of, dicts)))
    prices: dict[str, list[float]] = {model: [] for model in counts}
    per_gpu = map(truediv, map(_price_of, available), map(_count_of, available))
    deque(map(list.append, map(prices.__getitem__, map(_model_of, available)), per_gpu), 0)
    points: list[tuple[Any, ...]] = []
    for model, n in counts.items():
        p = prices[model]
        if p:
            points.append((ts, provider, model, n, len(p), min(p), sum(p) / len(p), max(p)))
        else:
            points.append((ts, provider, model, n, 0, None, None, None))
    return points
