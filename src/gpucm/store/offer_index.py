"""An in-memory copy of the offers table's filter and sort columns, for the searches a
running front end makes on every keystroke (the TUI, the API).

SQLite answers a filter over 100,000 offers with a full scan and a sort: 10-30 ms on a
2-core machine, most of it the per-row cost of its bytecode (bench search_100k_*).
Over numpy arrays the same filter is a few vectorised comparisons, and a page in a sort
order is a walk of a permutation computed once per refresh: 1.5-3.5 ms with the page's
rows, which the store reads from SQLite by rowid.

Every column is held as small integer codes into its distinct values (numbers in
ascending order, so codes compare and tie as the values do): ~40 bytes an offer. A text
column of many distinct values (the host key: one per offer where the provider names
no machine) keeps them packed in one buffer, ~20 bytes an offer, where a list of str
objects took ~75.

The index answers exactly what `search_sql` answers, NULLs, collations and tie order
included (tests/store/test_offer_index.py compares the two over generated stores and
queries). It is a copy of one generation of the offers: the store uses it only while
that generation is current, and reads with SQL otherwise.
"""

from __future__ import annotations

import array
import bisect
import contextlib
import math
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import SearchQuery, SortBy, levels_at_least
from gpucm.domain.pricing import HOURS_PER_MONTH, all_in_disk_gb
from gpucm.domain.regions import US_GROUPS, expand_region_terms
from gpucm.store.search_sql import SORT_COLUMNS, fit_filter, model_names
from gpucm.store.sql import offers_generation

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64] | npt.NDArray[np.int32]
Positions = npt.NDArray[np.int32]
# a provider's offers of a GPU model: provider, count, min and max $/h, min, mean and
# max $/GPU-h (results.ProviderPrices' fields)
ModelPrices = tuple[str, int, float, float, float, float, float]

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
    "storage_price_per_gb_month",  # a sort key's part only (all-in $/h)
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
# how much of a sort order a page tests first (then four times as much, and so on)
_FIRST_STRETCH = 4096
# up to this many wanted values, a text term compares codes rather than look them up
_FEW_CODES = 8
# fewer than one row in this many left: the rest of a filter tests those rows only
# (gathered in ascending positions), and a page puts them in order by rank rather
# than walking the order
_SPARSE = 4
# the rows an index is built from
COLUMNS_SQL = f"SELECT rowid, available = 1, {', '.join((*_NUMBERS, *_TEXTS))} FROM offers"
# SQLite's: in host order, so the host keys (one per offer at most providers) are coded
# and packed as they come, where a dict of them all made ~25 MB of objects at 100,000
# offers whose freed memory the process kept (BINARY order is the code points' order)
COLUMNS_BY_HOST_SQL = f"{COLUMNS_SQL} ORDER BY host_id"

# a text column with more distinct values than this (and no NULL) keeps them packed
_PACK_OVER = 1024
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


class _Packed(Sequence[str]):
    """Distinct texts in ascending order, in one UTF-8 buffer with their end offsets:
    a term finds its code by binary search instead of a pass over every value."""

    def __init__(self, buffer: bytes, ends: npt.NDArray[np.int64]) -> None:
        self._ends = ends.astype(np.int32) if len(ends) and ends[-1] < 2**31 else ends
        self._buffer = buffer

    @classmethod
    def of(cls, ascending: Sequence[str]) -> _Packed:
        encoded = [text.encode("utf-8", "surrogatepass") for text in ascending]
        ends = np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)))
        return cls(b"".join(encoded), ends)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        start = int(self._ends[i - 1]) if i else 0
        return self._buffer[start : int(self._ends[i])].decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def find(self, text: str) -> int | None:
        at = bisect.bisect_left(self, text)
        return at if at < len(self) and self[at] == text else None

    @property
    def nbytes(self) -> int:
        return len(self._buffer) + self._ends.nbytes


@dataclass
class _Texts:
    """A text column as codes into its distinct values (NULL among them), which are
    a list or, when many, packed (then with no NULL)."""

    values: list[str | None] | _Packed
    codes: Codes

    @classmethod
    def of(cls, values: list[str | None], codes: npt.NDArray[np.int32]) -> _Texts:
        if len(values) <= _PACK_OVER or None in values:
            return cls(values, _narrow(codes, len(values)))
        texts = cast(list[str], values)
        ascending = sorted(range(len(texts)), key=texts.__getitem__)
        place = np.empty(len(texts), dtype=np.int32)
        place[ascending] = np.arange(len(texts), dtype=np.int32)
        return cls(_Packed.of([texts[i] for i in ascending]), _narrow(place[codes], len(texts)))

    def where(self, wanted: Iterable[int]) -> Mask:
        codes = list(wanted)
        if len(codes) > _FEW_CODES:
            table = np.zeros(len(self.values), dtype=bool)
            table[codes] = True
            return table[self.codes]
        # a comparison or a few: ~8x faster than looking every row's code up
        mask = np.zeros(len(self.codes), dtype=bool)
        for code in codes:
            mask |= self.codes == code
        return mask

    def equal(self, terms: Iterable[str]) -> Mask:
        wanted = set(terms)
        values = self.values
        if isinstance(values, _Packed):
            found = (values.find(t) for t in wanted)
            return self.where(sorted(code for code in found if code is not None))
        return self.where(i for i, v in enumerate(values) if v in wanted)

    def equal_nocase(self, terms: Iterable[str]) -> Mask:
        wanted = {_nocase(t) for t in terms}
        return self.where(
            i for i, v in enumerate(self.values) if v is not None and _nocase(v) in wanted
        )


class _Runs:
    """Codes of a text column whose rows come in ascending order: the next code at
    each new value, and the values packed as they come."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._ends = array.array("q")
        self._last: object = None

    def codes(self, column: Sequence[object]) -> npt.NDArray[np.int32]:
        codes = array.array("i")
        for value in column:
            if value != self._last or not self._ends:
                if not isinstance(value, str) or (self._ends and value < cast(str, self._last)):
                    raise ValueError("the host keys did not come in order")
                self._buffer += value.encode("utf-8", "surrogatepass")
                self._ends.append(len(self._buffer))
                self._last = value
            codes.append(len(self._ends) - 1)
        return np.frombuffer(codes, dtype=np.int32)

    def texts(self, codes: npt.NDArray[np.int32]) -> _Texts:
        ends = np.frombuffer(self._ends, dtype=np.int64)
        return _Texts(_Packed(bytes(self._buffer), ends), _narrow(codes, len(ends)))


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
    # keyed by sort, direction and the disk an all-in price order prices in (or None)
    _orders: dict[tuple[SortBy, bool, float | None], Positions] = field(default_factory=dict)
    _ranks: dict[tuple[SortBy, bool, float | None], Positions] = field(default_factory=dict)

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
        cursor = conn.execute(COLUMNS_BY_HOST_SQL)
        chunks = iter(lambda: cursor.fetchmany(_CHUNK), [])
        return cls.from_chunks(n, chunks, generation, stop, ascending="host_id")

    @classmethod
    def from_chunks(
        cls,
        n: int,
        chunks: Iterable[Sequence[Sequence[object]]],
        generation: int,
        stop: Callable[[], bool] = lambda: False,
        *,
        ascending: str | None = None,
    ) -> OfferIndex:
        """The index of `n` offers whose rows of COLUMNS_SQL come in `chunks`, in
        ascending order of the text column `ascending` when one is named (else it
        raises ValueError)."""
        rowid = np.empty(n, dtype=np.int64)
        available = np.empty(n, dtype=bool)
        names = (*_NUMBERS, *_TEXTS)
        # every column as codes in first-seen order of its distinct values: a chunk
        # of rows is turned into arrays at once, so few row objects live at a time
        codes = {name: np.empty(n, dtype=np.int32) for name in names}
        seen: dict[str, dict[object, int]] = {name: {} for name in names}
        runs = _Runs()
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
                if name == ascending:
                    codes[name][at:end] = runs.codes(column)
                    continue
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
            name: runs.texts(codes[name])
            if name == ascending
            else _Texts.of(cast(list[str | None], list(seen[name])), codes[name])
            for name in _TEXTS
        }
        if n and rowid.max() < 2**31:
            rowid = rowid.astype(np.int32)
        index = cls(generation, rowid, available, numbers, texts)
        index.order("price", descending=False)  # the default view's, ready before it is asked
        return index

    # -- filter -------------------------------------------------------------------

    def match(self, query: SearchQuery, catalog: Catalog, at: Positions | None = None) -> Mask:
        """The rows `search_sql.build_filter(query)` selects: of every row, or of the
        rows at positions `at` (then a mask as long as `at`)."""
        columns = _Columns(self, at)
        mask = np.ones(columns.size, dtype=bool)
        for term in _terms(query, catalog):
            mask &= term(columns)
        return mask

    def matching(self, query: SearchQuery, catalog: Catalog) -> Positions:
        """The positions of every row the query selects, ascending."""
        at, mask = self._filter(query, catalog)
        if at is None:
            if mask is None:
                return np.arange(self.size, dtype=np.int32)
            return np.flatnonzero(mask).astype(np.int32)
        return at if mask is None else at[mask]

    def _filter(self, query: SearchQuery, catalog: Catalog) -> tuple[Positions | None, Mask | None]:
        """The query's rows as (positions, a mask over them): positions None for every
        row, a mask None for all of them. Once the terms so far leave few rows (a GPU
        model, a family), the rest are tested on those rows only: at 1,000,000 offers
        a sparse filter's full pass was 15-40 ms."""
        at: Positions | None = None
        columns = _Columns(self, None)
        mask: Mask | None = None
        for term in _terms(query, catalog):
            hit = term(columns)
            mask = hit if mask is None else mask & hit
            if at is None and np.count_nonzero(mask) * _SPARSE < len(mask):
                at = np.flatnonzero(mask).astype(np.int32)
                columns, mask = _Columns(self, at), None
        return at, mask

    # -- order --------------------------------------------------------------------

    def order(
        self, sort_by: SortBy, *, descending: bool, disk_gb: float | None = None
    ) -> Positions:
        """Row positions in `search_sql.order_by`'s order, computed once per sort; with
        `disk_gb` (search_sql.all_in_disk_gb) the price order is all-in $/h."""
        key = (sort_by, descending, disk_gb)
        cached = self._orders.get(key)
        if cached is not None:
            return cached
        column = SORT_COLUMNS[sort_by]
        price = self.numbers["price_per_hour"].codes
        if disk_gb is not None:
            # one all-in order kept at a time: each disk (each workload) is another
            # array as long as the market, and the fits= searches of a session vary
            for cache in (self._orders, self._ranks):
                for old in [k for k in cache if k[2] is not None]:
                    del cache[old]
            # the arithmetic of search_sql.all_in_expr, in its order: the same floats
            rate = np.nan_to_num(self.numbers["storage_price_per_gb_month"].values())
            total = self.numbers["price_per_hour"].values() + rate * disk_gb / HOURS_PER_MONTH
            ascending = np.lexsort((self.rowid, total)).astype(np.int32)
            order = ascending[::-1] if descending else ascending
        elif column == "price_per_hour":
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

    def rank(self, sort_by: SortBy, *, descending: bool, disk_gb: float | None = None) -> Positions:
        """Each row's place in `order(sort_by, descending, disk_gb)` (its inverse)."""
        key = (sort_by, descending, disk_gb)
        cached = self._ranks.get(key)
        if cached is None:
            order = self.order(sort_by, descending=descending, disk_gb=disk_gb)
            cached = np.empty(len(order), dtype=np.int32)
            cached[order] = np.arange(len(order), dtype=np.int32)
            self._ranks[key] = cached
        return cached

    # -- answers ------------------------------------------------------------------

    def page(
        self,
        query: SearchQuery,
        catalog: Catalog,
        *,
        limit: int,
        offset: int,
        count: bool = True,
    ) -> tuple[list[int], int]:
        """Rowids of one page of the query's matches, in its order, and how many match
        (-1 unless `count`). Its cost follows the matches, not the market: a filter
        most rows pass fills a first page from the first stretch of its order, and a
        sparse one is the few matching rows put in order by their ranks (at 1,000,000
        offers a first page over the whole order took 17-55 ms, bench search_1m_*)."""
        descending = query.sort_order == "desc"
        disk = all_in_disk_gb(query)
        order = self.order(query.sort_by, descending=descending, disk_gb=disk)
        need = offset + limit
        if not count:
            # a filter many rows pass fills its page from the first rows of its order
            # (testing further down, in the order's random positions, cost more than
            # the whole filter in the columns' own order)
            at = order[:_FIRST_STRETCH]
            hit = at[self.match(query, catalog, at)]
            if len(hit) >= need or len(at) == len(order):
                return self._rowids(hit[offset:need]), -1
        found = self.matching(query, catalog)
        total = len(found) if count else -1
        if len(found) * _SPARSE >= self.size:
            # most rows match: the page lies near the start of the order
            mask = np.zeros(self.size, dtype=bool)
            mask[found] = True
            pages = []
            have, start, step = 0, 0, _FIRST_STRETCH
            while have < need and start < len(order):
                at = order[start : start + step]
                pages.append(at[mask[at]])
                have += len(pages[-1])
                start, step = start + step, step * 4
            matched = np.concatenate(pages) if pages else order[:0]
            return self._rowids(matched[offset:need]), total
        # fewer: their places in the order, the first `need` of them sorted
        ranks = self.rank(query.sort_by, descending=descending, disk_gb=disk)[found]
        if len(ranks) > need:
            ranks = np.partition(ranks, need - 1)[:need] if need else ranks[:0]
        ranks.sort()
        return self._rowids(order[ranks[offset:need]]), total

    def _rowids(self, positions: Positions) -> list[int]:
        return [int(r) for r in self.rowid[positions]]

    # -- what the charts and the model detail read ------------------------------------
    # (answered here so the reads of a running front end never scan the offers table:
    # each scan also kept every page of it mapped, ~25 MB at 100,000 offers)

    def gpu_prices(self, query: SearchQuery, catalog: Catalog, limit: int) -> list[float]:
        """`OfferReads.gpu_prices`: the matches' prices per GPU-hour, cheapest first."""
        column = self.numbers["price_per_gpu_hour"]
        codes = np.sort(column.codes[self.matching(query, catalog)])[:limit]
        # the column is NOT NULL: no code is -1
        return cast(list[float], column.ascending[codes].tolist())

    def provider_counts(self, query: SearchQuery, catalog: Catalog) -> dict[str, int]:
        """`OfferReads.provider_counts`: the matches per provider, by provider."""
        column = self.texts["provider"]
        counts = np.bincount(column.codes[self.matching(query, catalog)], minlength=1)
        found = {cast(str, column.values[c]): int(n) for c, n in enumerate(counts.tolist()) if n}
        return dict(sorted(found.items()))

    def model_prices(self, gpu_model: str) -> list[ModelPrices]:
        """`OfferReads.model_offers`' rows: per provider over the model's available
        offers, (provider, count, min and max $/h, min, mean and max $/GPU-h), by the
        cheapest $/GPU-h and then provider. The mean is correctly rounded (math.fsum):
        SQL's avg adds in its own order, so the two may differ in the last bit."""
        at = np.flatnonzero(self.texts["gpu_model"].equal([gpu_model]) & self.available)
        providers = self.texts["provider"]
        hour = self.numbers["price_per_hour"]
        gpu_hour = self.numbers["price_per_gpu_hour"]
        rows: list[ModelPrices] = []
        codes = providers.codes[at]
        for code in np.unique(codes).tolist():
            mine = at[codes == code]
            price = hour.ascending[hour.codes[mine]]
            gpu_price = gpu_hour.ascending[gpu_hour.codes[mine]].tolist()
            rows.append(
                (
                    cast(str, providers.values[code]),
                    len(mine),
                    float(price.min()),
                    float(price.max()),
                    min(gpu_price),
                    math.fsum(gpu_price) / len(gpu_price),
                    max(gpu_price),
                )
            )
        return sorted(rows, key=lambda r: (r[4], r[0]))

    def count(self, query: SearchQuery, catalog: Catalog) -> int:
        at, mask = self._filter(query, catalog)
        if mask is not None:
            return int(np.count_nonzero(mask))
        return self.size if at is None else len(at)


class _Columns:
    """An index's columns, of every row or of the rows at some positions, gathered
    only when a term asks for them."""

    def __init__(self, index: OfferIndex, at: Positions | None) -> None:
        self._index, self._at = index, at
        self.size = index.size if at is None else len(at)
        self._numbers: dict[str, _Numbers] = {}
        self._texts: dict[str, _Texts] = {}

    @property
    def available(self) -> Mask:
        return self._index.available if self._at is None else self._index.available[self._at]

    def number(self, name: str) -> _Numbers:
        column = self._index.numbers[name]
        if self._at is None:
            return column
        if name not in self._numbers:
            self._numbers[name] = _Numbers(column.ascending, column.codes[self._at])
        return self._numbers[name]

    def text(self, name: str) -> _Texts:
        column = self._index.texts[name]
        if self._at is None:
            return column
        if name not in self._texts:
            self._texts[name] = _Texts(column.values, column.codes[self._at])
        return self._texts[name]


Term = Callable[[_Columns], Mask]


def _terms(query: SearchQuery, catalog: Catalog) -> list[Term]:
    """`search_sql.build_filter(query)`'s terms, each a mask over some columns, in
    the order they are tested (the likeliest to leave few rows first)."""
    # equality terms first (a model or family leaves few rows), ranges next, the
    # available flag (most rows pass it) last
    terms: list[Term] = []
    models = model_names(query, catalog)
    if models:
        known = [m for m in models if catalog.get(m) is not None]
        unknown = [m for m in models if catalog.get(m) is None]
        terms.append(lambda c: _any_model(c.text("gpu_model"), known, unknown))
    if query.gpu_category:
        category = query.gpu_category
        terms.append(lambda c: c.text("gpu_category").equal([category]))
    if query.providers:
        providers = query.providers
        terms.append(lambda c: c.text("provider").equal(providers))
    if query.min_availability is not None:
        levels = levels_at_least(query.min_availability)
        terms.append(lambda c: c.text("availability").equal(levels))
    if query.regions:
        regions = query.regions
        terms.append(lambda c: _regions(c, regions))
    if query.bad_hosts and query.hosts != "all":
        bad = query.bad_hosts
        terms.append(lambda c: ~c.text("host_id").equal(bad))
    fit = fit_filter(query, catalog)
    if fit is not None:
        if fit.models is not None:
            fit_models = list(fit.models)
            terms.append(lambda c: c.text("gpu_model").equal(fit_models))
        need = fit.total_gb
        terms.append(lambda c: _holds(c, need))
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
            terms.append(_at_least(name, bound))
    if query.max_price is not None:
        most = query.max_price
        terms.append(lambda c: c.number("price_per_hour").at_most(most))
    # a provider that does not report these lets the offer through (see search_sql)
    for name, bound in (("storage_gb", query.min_storage), ("cuda_version", query.min_cuda)):
        if bound is not None:
            terms.append(_at_least(name, bound, or_missing=True))
    if query.available:
        terms.append(lambda c: c.available)
    return terms


def _holds(columns: _Columns, total_gb: float) -> Mask:
    """Offers whose VRAM over all their GPUs holds `total_gb` (a workload's fit)."""
    memory = columns.number("gpu_memory_gb").values() * columns.number("gpu_count").values()
    with np.errstate(invalid="ignore"):  # NaN (NULL) compares false, as in SQL
        return memory >= total_gb


def _any_model(column: _Texts, known: list[str], unknown: list[str]) -> Mask:
    """Catalog models by exact name, others as SQLite's NOCASE compares them."""
    if not unknown:
        return column.equal(known)
    return column.equal(known) | column.equal_nocase(unknown)


def _at_least(name: str, bound: float, *, or_missing: bool = False) -> Term:
    def term(columns: _Columns) -> Mask:
        column = columns.number(name)
        passed = column.at_least(bound)
        return column.missing() | passed if or_missing else passed

    return term


def _regions(columns: _Columns, terms: Sequence[str]) -> Mask:
    groups, raw = expand_region_terms(terms)
    found = columns.text("region_group").equal(groups)
    if set(US_GROUPS) <= set(groups):
        found |= columns.text("country").equal_nocase(["US"])
    if raw:
        found |= columns.text("region").equal_nocase(raw) | columns.text("country").equal_nocase(
            raw
        )
    return found


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
