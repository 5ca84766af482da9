"""An in-memory copy of the offers table's filter and sort columns, for the searches a
running front end makes on every keystroke (the TUI, the API).

SQLite answers a filter over 100,000 offers with a full scan and a sort: 10-30 ms on a
2-core machine, most of it the per-row cost of its bytecode (bench search_100k_*).
Over numpy arrays the same filter is a few vectorised comparisons, and a page in a sort
order is a walk of a permutation computed once per refresh: 1.5-3.5 ms with the page's
rows, which the store reads from SQLite by rowid.

Every column is held as small integer codes into its distinct values (numbers in
ascending order, so codes compare and tie as the values do): ~40 bytes an offer.

The index answers exactly what `search_sql` answers, NULLs, collations and tie order
included (tests/store/test_offer_index.py compares the two over generated stores and
queries). It is a copy of one generation of the offers: the store uses it only while
that generation is current, and reads with SQL otherwise.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import SearchQuery, SortBy, levels_at_least
from gpucm.domain.regions import US_GROUPS, expand_region_terms
from gpucm.store.search_sql import SORT_COLUMNS, fit_filter, model_names
from gpucm.store.sql import offers_generation

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64] | npt.NDArray[np.int32]
Positions = npt.NDArray[np.int32]

_NUMBERS = (
    "gpu_count",
    "price_per_hour",
    "price_per_gpu_hour",  # a sort key only
    "ram_gb",
    "storage_gb",
    "reliability",
    "performance",
    "gpu_memory_gb",
    "cuda_version",
    "value",
    "spot_price_per_hour",
)
_TEXTS = (
    "gpu_model",
    "gpu_category",
    "provider",
    "region_group",
    "region",
    "country",
    "availability",
    "host_id",
)
_CHUNK = 1024  # rows fetched at a time while building: keeps the build's garbage small
# the rows an index is built from
COLUMNS_SQL = f"SELECT rowid, available = 1, {', '.join((*_NUMBERS, *_TEXTS))} FROM offers"

# SQLite's NOCASE folds ASCII letters only
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _nocase(text: str) -> str:
    return text.translate(_ASCII_FOLD)


class BuildStopped(Exception):
    """The store closed while its index was being built."""


Codes = npt.NDArray[np.int16] | npt.NDArray[np.int32]


def _narrow(codes: npt.NDArray[np.int32], distinct: int) -> Codes:
    # most columns have a few dozen distinct values: half the memory per offer
    return codes.astype(np.int16) if distinct < 2**15 else codes


@dataclass
class _Texts:
    """A text column as codes into its distinct values (NULL among them)."""

    values: list[str | None]
    codes: Codes

    def where(self, wanted: Iterable[int]) -> Mask:
        table = np.zeros(len(self.values), dtype=bool)
        table[list(wanted)] = True
        return table[self.codes]

    def equal(self, terms: Iterable[str]) -> Mask:
        wanted = set(terms)
        return self.where(i for i, v in enumerate(self.values) if v in wanted)

    def equal_nocase(self, terms: Iterable[str]) -> Mask:
        wanted = {_nocase(t) for t in terms}
        return self.where(
            i for i, v in enumerate(self.values) if v is not None and _nocase(v) in wanted
        )


@dataclass
class _Numbers:
    """A numeric column as codes into its distinct values in ascending order, -1 for
    NULL: codes compare and tie exactly as the values do, in a quarter of the memory."""

    ascending: Floats
    codes: Codes

    @classmethod
    def of(cls, values: list[object], codes: npt.NDArray[np.int32]) -> _Numbers:
        numbers = np.array(values, dtype=np.float64)  # None -> NaN; text raises ValueError
        order = np.argsort(numbers)  # NaN (NULL) sorts last
        present = int(np.count_nonzero(~np.isnan(numbers)))
        rank = np.empty(len(numbers), dtype=np.int32)
        rank[order] = np.arange(len(numbers), dtype=np.int32)
        rank[order[present:]] = -1
        return cls(numbers[order[:present]], _narrow(rank[codes], len(numbers)))

    def at_least(self, bound: float) -> Mask:
        # NULL's -1 is below every rank, so it never passes a minimum (as in SQL)
        return self.codes >= np.searchsorted(self.ascending, bound, side="left")

    def at_most(self, bound: float) -> Mask:
        return (self.codes >= 0) & (self.codes < np.searchsorted(self.ascending, bound, "right"))

    def missing(self) -> Mask:
        return self.codes < 0

    def values(self) -> Floats:
        """The column's values, NaN for NULL (for a term over two columns)."""
        table = np.append(self.ascending, np.nan)  # code -1 picks the NaN
        return table[self.codes]


@dataclass
class OfferIndex:
    generation: int
    rowid: Ints
    available: Mask
    numbers: dict[str, _Numbers]
    texts: dict[str, _Texts]
    _orders: dict[tuple[SortBy, bool], Positions] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.rowid)

    @classmethod
    def build(
        cls,
        conn: sqlite3.Connection,
        generation: int,
        *,
        stop: Callable[[], bool] = lambda: False,
    ) -> OfferIndex:
        """Read the columns inside the caller's read transaction (so they are of one
        snapshot, the one `generation` was read in). Raises ValueError or TypeError on
        a value SQL holds but the index cannot (a number stored as text), and
        BuildStopped once `stop()` says so."""
        n = conn.execute("SELECT count(*) FROM offers").fetchone()[0]
        cursor = conn.execute(COLUMNS_SQL)
        return cls.from_chunks(n, iter(lambda: cursor.fetchmany(_CHUNK), []), generation, stop)

    @classmethod
    def from_chunks(
        cls,
        n: int,
        chunks: Iterable[Sequence[Sequence[object]]],
        generation: int,
        stop: Callable[[], bool] = lambda: False,
    ) -> OfferIndex:
        """The index of `n` offers whose rows of COLUMNS_SQL come in `chunks`."""
        rowid = np.empty(n, dtype=np.int64)
        available = np.empty(n, dtype=bool)
        names = (*_NUMBERS, *_TEXTS)
        # every column as codes in first-seen order of its distinct values: a chunk
        # of rows is turned into arrays at once, so few row objects live at a time
        codes = {name: np.empty(n, dtype=np.int32) for name in names}
        seen: dict[str, dict[object, int]] = {name: {} for name in names}
        at = 0
        for chunk in chunks:
            if stop():
                raise BuildStopped
            end = at + len(chunk)
            if end > n:
                raise ValueError("the offers table grew while it was read")
            columns = list(zip(*chunk, strict=True))
            rowid[at:end] = columns[0]
            available[at:end] = columns[1]
            for column, name in zip(columns[2:], names, strict=True):
                known = seen[name]
                for value in dict.fromkeys(column):
                    known.setdefault(value, len(known))
                codes[name][at:end] = np.fromiter(
                    map(known.__getitem__, column), dtype=np.int32, count=end - at
                )
            at = end
        if at != n:
            raise ValueError("the offers table shrank while it was read")
        numbers = {name: _Numbers.of(list(seen[name]), codes[name]) for name in _NUMBERS}
        texts = {
            # TEXT affinity: SQLite hands these back as str or None
            name: _Texts(
                cast(list[str | None], list(seen[name])), _narrow(codes[name], len(seen[name]))
            )
            for name in _TEXTS
        }
        if n and rowid.max() < 2**31:
            rowid = rowid.astype(np.int32)
        index = cls(generation, rowid, available, numbers, texts)
        index.order("price", descending=False)  # the default view's, ready before it is asked
        return index

    # -- filter -------------------------------------------------------------------

    def match(self, query: SearchQuery, catalog: Catalog) -> Mask:
        """The rows `search_sql.build_filter(query)` selects."""
        mask = self.available.copy() if query.available else np.ones(self.size, dtype=bool)
        num, text = self.numbers, self.texts
        models = model_names(query, catalog)
        if models:
            known = [m for m in models if catalog.get(m) is not None]
            unknown = [m for m in models if catalog.get(m) is None]
            mask &= text["gpu_model"].equal(known) | text["gpu_model"].equal_nocase(unknown)
        if query.gpu_category:
            mask &= text["gpu_category"].equal([query.gpu_category])
        if query.providers:
            mask &= text["provider"].equal(query.providers)
        minimums: Sequence[tuple[str, float | None]] = (
            ("gpu_count", query.min_gpu_count),
            ("price_per_hour", query.min_price),
            ("ram_gb", query.min_ram),
            ("reliability", query.min_reliability),
            ("performance", query.min_performance),
            ("gpu_memory_gb", query.min_gpu_memory),
        )
        for name, bound in minimums:
            if bound is not None:
                mask &= num[name].at_least(bound)
        if query.max_price is not None:
            mask &= num["price_per_hour"].at_most(query.max_price)
        # a provider that does not report these lets the offer through (see search_sql)
        for name, bound in (("storage_gb", query.min_storage), ("cuda_version", query.min_cuda)):
            if bound is not None:
                mask &= num[name].missing() | num[name].at_least(bound)
        fit = fit_filter(query, catalog)
        if fit is not None:
            memory = num["gpu_memory_gb"].values() * num["gpu_count"].values()
            with np.errstate(invalid="ignore"):  # NaN (NULL) compares false, as in SQL
                mask &= memory >= fit.total_gb
            if fit.models is not None:
                mask &= text["gpu_model"].equal(fit.models)
        if query.bad_hosts and query.hosts != "all":
            mask &= ~text["host_id"].equal(query.bad_hosts)
        if query.min_availability is not None:
            mask &= text["availability"].equal(levels_at_least(query.min_availability))
        if query.regions:
            mask &= self._regions(query.regions)
        return mask

    def _regions(self, terms: Sequence[str]) -> Mask:
        groups, raw = expand_region_terms(terms)
        text = self.texts
        found = text["region_group"].equal(groups)
        if set(US_GROUPS) <= set(groups):
            found |= text["country"].equal_nocase(["US"])
        if raw:
            found |= text["region"].equal_nocase(raw) | text["country"].equal_nocase(raw)
        return found

    # -- order --------------------------------------------------------------------

    def order(self, sort_by: SortBy, *, descending: bool) -> Positions:
        """Row positions in `search_sql.order_by`'s order, computed once per sort."""
        key: tuple[SortBy, bool] = (sort_by, descending)
        cached = self._orders.get(key)
        if cached is not None:
            return cached
        column = SORT_COLUMNS[sort_by]
        price = self.numbers["price_per_hour"].codes
        if column == "price_per_hour":
            ascending = np.lexsort((self.rowid, price)).astype(np.int32)
            # price, rowid: both keys flip, so descending is the exact reverse
            order = ascending[::-1] if descending else ascending
        else:
            codes = self.numbers[column].codes.astype(np.int32)
            missing = codes < 0
            primary = np.where(missing, 0, -codes if descending else codes)
            # NULLs last, the column, then price and rowid ascending (lexsort: last key first)
            order = np.lexsort((self.rowid, price, primary, missing)).astype(np.int32)
        self._orders[key] = order
        return order

    # -- answers ------------------------------------------------------------------

    def page(
        self, query: SearchQuery, catalog: Catalog, *, limit: int, offset: int
    ) -> tuple[list[int], int]:
        """Rowids of one page of the query's matches, in its order, and how many match."""
        mask = self.match(query, catalog)
        order = self.order(query.sort_by, descending=query.sort_order == "desc")
        matched = order[mask[order]]
        return [int(r) for r in self.rowid[matched[offset : offset + limit]]], len(matched)

    def count(self, query: SearchQuery, catalog: Catalog) -> int:
        return int(np.count_nonzero(self.match(query, catalog)))


def read_offer_index(path: str, stop: Callable[[], bool]) -> tuple[int, OfferIndex | None, str]:
    """(generation, the index or None, why not). Runs on a worker thread with its own
    read-only connection, so a build never queues in front of the UI's reads."""
    generation = -1
    try:
        conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return generation, None, f"cannot open {path}: {exc}"
    try:
        # no memory map (unlike the store's connections): the build reads every page
        # once, and a map would keep them all in the app's resident memory
        conn.execute("PRAGMA mmap_size=0")
        conn.execute("BEGIN")
        generation = offers_generation(conn)
        return generation, OfferIndex.build(conn, generation, stop=stop), ""
    except BuildStopped:
        return generation, None, ""
    except (sqlite3.Error, ValueError, TypeError, OverflowError) as exc:
        return generation, None, str(exc)
    finally:
        conn.close()
        give_back_freed_memory()


def give_back_freed_memory() -> None:
    """A build frees ~10 MB of row objects and pages per 100k offers on its worker
    thread, and glibc keeps that thread's freed memory: hand it back to the system
    (bench tui_rss_100k_vs_1k_offers went from 1.52 to 1.41). Elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: musl has no malloc_trim
        ctypes.CDLL(None).malloc_trim(0)
