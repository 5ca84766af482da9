"""The compact one-line query language, parsed to and printed from `SearchQuery`.

    gpu="RTX 4090",A100 price<2 ram>=32 region=US-East,Europe sort=-performance

Grammar: whitespace-separated tokens ``key OP value[,value...]`` with OP one of
``= < <= > >=``, plus the bare word ``all``. A value may be double-quoted to hold
spaces, commas or ``= < >``; inside quotes ``\\"`` is a quote and ``\\\\`` a backslash
(any other backslash is literal). Quoted and unquoted pieces concatenate, as in a shell.
Keys are case-insensitive; so are the values of category, provider, available and sort.

    gpu (model, gpus)          =  list     GPU model terms
    category (cat)             =  one of consumer, professional, datacenter, unknown
    count (n, gpu_count)       >= N, > N   at least N (> N means N+1) GPUs
    price                      < <= > >=   $/h for the whole offer
    ram, storage (disk),       > >=        minimums (GB, GB, GB per GPU, version,
      vram (gpu_mem), cuda,                score); "32gb" is accepted for sizes
      perf (performance)
    rel (reliability)          > >=        0.95, 95% or 95 (above 1: a percentage)
    region (regions)           =  list     group names or raw region terms
    provider (providers)       =  list     any spelling `canonical_provider` knows
    available                  =  yes|no|true|false|1|0;  bare `all` = available=no
    avail (availability)       >= > low|medium|high: stock the provider confirms
                                  (hides offers whose availability is unknown)
    fits                       =  a workload that must fit in the offer's VRAM:
                                  SIZE[@PRECISION][,ctx=N][,train|,infer], e.g.
                                  fits=70B@bf16,ctx=32k (domain/workload_fit.py);
                                  its price order is all-in $/h (pricing.all_in_disk_gb)
    hosts                      =  good (the default: offers on hosts in the memory
                                  of bad hosts are hidden) or all (shown too)
    sort                       =  key or -key (descending): price, price_per_gpu
                                  (gpu_price), performance (perf), reliability (rel),
                                  value, gpu_count (count), ram, vram, storage (disk),
                                  spot (the interruptible price); bare `spot` = sort=spot
    limit, offset              =  N

Prices, sizes and scores are continuous, so `<` and `<=` (and `>`, `>=`) mean the same,
inclusive bound; only GPU counts and stock levels are steps, where `>` is strict
(`avail>low` is `avail>=medium`). There is no `avail=unknown`: unknown is no level
but the absence of one (Paperspace says nothing about stock), and `provider=paperspace`
already lists exactly those offers.

The first use of a list key in a text replaces the base query's list, later uses in the
same text append; a repeated scalar key overrides the earlier one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from gpucm.domain.models import CATEGORIES, SORT_KEYS, STOCK_LEVELS, SearchQuery
from gpucm.domain.provider_names import PROVIDERS, SHORT_NAMES, canonical_provider
from gpucm.domain.workload_fit import FitError, parse_workload

__all__ = ["QueryError", "format_query", "parse_query"]


class QueryError(ValueError):
    """A query that cannot be parsed; `str()` is one line naming the bad token."""

    def __init__(self, message: str, token: str = "") -> None:
        super().__init__(message)
        self.token = token


_OPERATORS: Final = ("=", "<", "<=", ">", ">=")
_OP_CHARS: Final = frozenset("=<>")
_MAX_SHOWN: Final = 60
_MAX_INT: Final = 2**63 - 1  # the store's largest integer (SQLite's INTEGER)


@dataclass(frozen=True, slots=True)
class _Key:
    name: str  # canonical spelling, used in messages and by format_query
    kind: str  # "list", "provider", or a key of _SCALARS
    field: str
    ops: tuple[str, ...]


_KEYS: Final[tuple[_Key, ...]] = (
    _Key("gpu", "list", "gpu_models", ("=",)),
    _Key("category", "category", "gpu_category", ("=",)),
    _Key("count", "count", "min_gpu_count", (">", ">=")),
    _Key("price", "price", "", ("<", "<=", ">", ">=")),
    _Key("ram", "min", "min_ram", (">", ">=")),
    _Key("storage", "min", "min_storage", (">", ">=")),
    _Key("vram", "min", "min_gpu_memory", (">", ">=")),
    _Key("cuda", "min", "min_cuda", (">", ">=")),
    _Key("perf", "min", "min_performance", (">", ">=")),
    _Key("rel", "rel", "min_reliability", (">", ">=")),
    _Key("region", "list", "regions", ("=",)),
    _Key("provider", "provider", "providers", ("=",)),
    _Key("available", "bool", "available", ("=",)),
    _Key("avail", "level", "min_availability", (">", ">=")),
    _Key("fits", "fits", "fits", ("=",)),
    _Key("hosts", "hosts", "hosts", ("=",)),
    _Key("sort", "sort", "sort_by", ("=",)),
    _Key("limit", "int", "limit", ("=",)),
    _Key("offset", "int", "offset", ("=",)),
)
_BY_NAME: Final[dict[str, _Key]] = {k.name: k for k in _KEYS}
_ALIASES: Final[dict[str, str]] = {
    "model": "gpu",
    "gpus": "gpu",
    "cat": "category",
    "n": "count",
    "gpu_count": "count",
    "disk": "storage",
    "gpu_mem": "vram",
    "performance": "perf",
    "reliability": "rel",
    "regions": "region",
    "providers": "provider",
    "availability": "avail",
}
_FIELD_NAMES: Final[dict[str, str]] = {
    **{k.field: k.name for k in _KEYS if k.field},
    "min_price": "price",
    "max_price": "price",
    "sort_order": "sort",
}
_FILTER_LIST: Final = ", ".join([*(k.name for k in _KEYS), "all", "spot"])

_SORT_ALIASES: Final[dict[str, str]] = {
    **{k: k for k in SORT_KEYS},
    "perf": "performance",
    "rel": "reliability",
    "count": "gpu_count",
    "gpu_price": "price_per_gpu",
    "per_gpu": "price_per_gpu",
    "gpu_mem": "vram",
    "disk": "storage",
}
_BOOLS: Final[dict[str, bool]] = {
    "yes": True,
    "true": True,
    "1": True,
    "no": False,
    "false": False,
    "0": False,
}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+]?inf(?:inity)?", re.I)
_INTEGER = re.compile(r"[+-]?\d+")
_SIZE_UNIT = re.compile(r"(?i)\s*(?:gb|gib|g)$")


def _show(text: str) -> str:
    """`text` quoted for an error message: one line, bounded length."""
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 1] + "…"
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return f"'{shown}'"


# --- tokenizing -----------------------------------------------------------------------

# A token is a list of (text, quoted) pieces; quoted pieces never split or act as syntax.
_Piece = tuple[str, bool]


def _tokenize(text: str) -> list[tuple[str, list[_Piece]]]:
    """Split on unquoted whitespace; returns (raw token, pieces) pairs."""
    tokens: list[tuple[str, list[_Piece]]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        pieces: list[_Piece] = []
        plain: list[str] = []
        while i < n and not text[i].isspace():
            if text[i] != '"':
                plain.append(text[i])
                i += 1
                continue
            if plain:
                pieces.append(("".join(plain), False))
                plain = []
            i += 1
            quoted: list[str] = []
            while True:
                if i >= n:
                    raise QueryError(f"unterminated quote in {_show(text[start:])}", text[start:])
                ch = text[i]
                if ch == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    quoted.append(text[i + 1])
                    i += 2
                elif ch == '"':
                    i += 1
                    break
                else:
                    quoted.append(ch)
                    i += 1
            pieces.append(("".join(quoted), True))
        if plain:
            pieces.append(("".join(plain), False))
        tokens.append((text[start:i], pieces))
    return tokens


def _split_key(raw: str, pieces: list[_Piece]) -> tuple[str, str, list[_Piece]]:
    """(key, operator, value pieces); operator is "" for a bare word."""
    if not pieces or pieces[0][1]:
        raise QueryError(f"expected key=value, got {_show(raw)}", raw)
    head = pieces[0][0]
    match = re.match(r"([^=<>]*)([=<>]*)(.*)", head, re.S)
    assert match is not None  # the pattern matches any string
    key, op, rest = match.groups()
    if not op:
        if len(pieces) > 1:
            raise QueryError(f"expected key=value, got {_show(raw)}", raw)
        return key, "", []
    value = ([(rest, False)] if rest else []) + pieces[1:]
    return key, op, value


def _split_values(raw: str, pieces: list[_Piece]) -> list[str]:
    """Comma-separated items; empty items (stray commas) are dropped."""
    items: list[str] = []
    current: list[str] = []
    for text, quoted in pieces:
        if quoted:
            current.append(text)
            continue
        for ch in text:
            if ch == ",":
                items.append("".join(current))
                current = []
            elif ch in _OP_CHARS:
                raise QueryError(
                    f"unexpected {ch!r} in the value of {_show(raw)} "
                    '(quote values that contain = < >, e.g. gpu="a=b")',
                    raw,
                )
            else:
                current.append(ch)
    items.append("".join(current))
    return [item for item in items if item.strip()]


# --- values ---------------------------------------------------------------------------


def _number(raw: str, value: str, what: str) -> float:
    text = value.strip()
    if not _NUMBER.fullmatch(text):
        raise QueryError(f"expected {what} in {_show(raw)}, got {_show(value)}", raw)
    return float(text)


def _integer(raw: str, value: str) -> int:
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        raise QueryError(f"expected a whole number in {_show(raw)}, got {_show(value)}", raw)
    try:
        number = int(text)
    except ValueError:  # beyond int's digit limit
        raise QueryError(f"number too large in {_show(raw)}", raw) from None
    return _bounded(raw, number)


def _bounded(raw: str, number: int) -> int:
    if number > _MAX_INT:
        raise QueryError(f"number too large in {_show(raw)} (at most {_MAX_INT})", raw)
    return number


def _size(raw: str, value: str) -> float:
    return _number(raw, _SIZE_UNIT.sub("", value), "a number")


def _reliability(raw: str, value: str) -> float:
    """0.95, 95% and 95 all mean 95 %: a bare number above 1 is a percentage, as the
    TUI's filter builder reads it."""
    text = value.strip()
    percent = text.endswith("%")
    number = _number(raw, text[:-1] if percent else text, "a reliability like 0.95 or 95%")
    if percent or number > 1:
        number /= 100
    if not 0 <= number <= 1:
        raise QueryError(f"reliability must be 0..1 or 0..100 (%) in {_show(raw)}", raw)
    return number


def _provider(raw: str, value: str) -> str:
    name = canonical_provider(value)
    if name is None:
        known = ", ".join(PROVIDERS)
        raise QueryError(
            f"unknown provider {_show(value)} in {_show(raw)} (providers: {known})", raw
        )
    return name


def _workload(raw: str, value: str) -> str:
    try:
        return parse_workload(value).text()
    except FitError as exc:
        raise QueryError(f"{exc}, in {_show(raw)}", raw) from None


# --- parsing --------------------------------------------------------------------------


class _Parser:
    def __init__(self, base: SearchQuery) -> None:
        self.fields: dict[str, Any] = base.model_dump()
        self.replaced: set[str] = set()
        # field -> the token that last set it, to blame in validation errors
        self.source: dict[str, str] = {}

    def set(self, field: str, value: Any, raw: str) -> None:
        self.fields[field] = value
        self.source[field] = raw

    def extend(self, field: str, values: list[str], raw: str) -> None:
        current = [] if field not in self.replaced else list(self.fields[field])
        self.replaced.add(field)
        self.set(field, (*current, *values), raw)

    def token(self, raw: str, pieces: list[_Piece]) -> None:
        word, op, value_pieces = _split_key(raw, pieces)
        key_text = word.strip().lower()
        if not op:
            if key_text == "all":
                self.set("available", False, raw)
                return
            if key_text == "spot":
                self.set("sort_by", "spot", raw)
                self.set("sort_order", "asc", raw)
                return
            name = _ALIASES.get(key_text, key_text)
            if name in _BY_NAME:
                example = {"=": "=…", ">": ">=…", "<": "<…"}[_BY_NAME[name].ops[0][0]]
                raise QueryError(
                    f"missing operator and value in {_show(raw)} (e.g. {name}{example})", raw
                )
            raise QueryError(
                f"expected key=value, 'all' or 'spot', got {_show(raw)} (filters: {_FILTER_LIST})",
                raw,
            )
        if not key_text:
            raise QueryError(f"missing filter name in {_show(raw)}", raw)
        if key_text in ("all", "spot"):
            raise QueryError(f"'{key_text}' takes no value, in {_show(raw)}", raw)
        name = _ALIASES.get(key_text, key_text)
        key = _BY_NAME.get(name)
        if key is None:
            raise QueryError(
                f"unknown filter {_show(word)} in {_show(raw)} (filters: {_FILTER_LIST})", raw
            )
        if op not in _OPERATORS:
            raise QueryError(
                f"unknown operator {_show(op)} in {_show(raw)} (use =, <, <=, >, >=)", raw
            )
        if op not in key.ops:
            allowed = " or ".join(key.ops)
            raise QueryError(f"{key.name} takes {allowed}, not {op}, in {_show(raw)}", raw)
        if key.kind == "fits":
            # the workload has its own commas and `ctx=`: read as one value
            self.set(key.field, _workload(raw, "".join(text for text, _ in value_pieces)), raw)
            return
        values = _split_values(raw, value_pieces)
        if not values:
            raise QueryError(f"missing value in {_show(raw)}", raw)
        if key.kind in ("list", "provider"):
            if key.kind == "provider":
                values = [_provider(raw, v) for v in values]
            self.extend(key.field, values, raw)
            return
        if len(values) > 1:
            raise QueryError(f"{key.name} takes one value, in {_show(raw)}", raw)
        _SCALARS[key.kind](self, key, op, values[0].strip(), raw)

    def validate(self) -> SearchQuery:
        fields = self.fields
        low, high = fields.get("min_price"), fields.get("max_price")
        if low is not None and high is not None and low > high:
            blame = self.source.get("max_price") or self.source.get("min_price") or ""
            raise QueryError(
                f"price range is empty (min {_fmt_number(low)} > max {_fmt_number(high)}) "
                f"at {_show(blame)}",
                blame,
            )
        try:
            return SearchQuery.model_validate(fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = str(error["loc"][0]) if error["loc"] else ""
            blame = self.source.get(field, "")
            name = _FIELD_NAMES.get(field, field or "query")
            ctx = error.get("ctx") or {}
            if error["type"] == "greater_than_equal":
                message = f"{name} must be at least {_fmt_bound(ctx.get('ge'))}"
            elif error["type"] == "less_than_equal":
                message = f"{name} must be at most {_fmt_bound(ctx.get('le'))}"
            else:
                message = f"invalid {name}: {error['msg']}"
            where = f" in {_show(blame)}" if blame else ""
            raise QueryError(f"{message}{where}", blame) from None


def _set_category(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    category = value.lower()
    if category not in CATEGORIES:
        raise QueryError(
            f"unknown category {_show(value)} in {_show(raw)} ({', '.join(CATEGORIES)})", raw
        )
    p.set(key.field, category, raw)


def _set_count(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    count = _integer(raw, value)
    p.set(key.field, _bounded(raw, count + 1) if op == ">" else count, raw)


def _set_price(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    price = _number(raw, value.removeprefix("$"), "a price")
    p.set("max_price" if op.startswith("<") else "min_price", price, raw)


def _set_min(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    p.set(key.field, _size(raw, value), raw)


def _set_rel(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    p.set(key.field, _reliability(raw, value), raw)


def _set_bool(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    flag = _BOOLS.get(value.lower())
    if flag is None:
        raise QueryError(f"expected yes or no in {_show(raw)}", raw)
    p.set(key.field, flag, raw)


def _set_level(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    level = value.lower()
    if level not in STOCK_LEVELS:
        hint = (
            "; unknown is no level (provider=paperspace lists those offers)"
            if level == "unknown"
            else ""
        )
        raise QueryError(
            f"unknown stock level {_show(value)} in {_show(raw)} ({', '.join(STOCK_LEVELS)}){hint}",
            raw,
        )
    if op == ">":
        higher = STOCK_LEVELS.index(level) + 1
        if higher >= len(STOCK_LEVELS):
            raise QueryError(f"nothing is above high, in {_show(raw)} (use avail>=high)", raw)
        level = STOCK_LEVELS[higher]
    p.set(key.field, level, raw)


def _set_sort(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    text = value.lower()
    order = "asc"
    if text[:1] in ("+", "-"):
        order = "desc" if text[0] == "-" else "asc"
        text = text[1:]
    sort_key = _SORT_ALIASES.get(text)
    if sort_key is None:
        raise QueryError(
            f"unknown sort key {_show(value)} in {_show(raw)} "
            f"(sort keys: {', '.join(SORT_KEYS)}; prefix - for descending)",
            raw,
        )
    p.set("sort_by", sort_key, raw)
    p.set("sort_order", order, raw)


def _set_hosts(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    which = value.lower()
    if which not in ("all", "good"):
        raise QueryError(f"hosts takes all or good, in {_show(raw)}", raw)
    p.set(key.field, which, raw)


def _set_int(p: _Parser, key: _Key, op: str, value: str, raw: str) -> None:
    p.set(key.field, _integer(raw, value), raw)


_SCALARS: Final[dict[str, Callable[[_Parser, _Key, str, str, str], None]]] = {
    "category": _set_category,
    "count": _set_count,
    "price": _set_price,
    "min": _set_min,
    "rel": _set_rel,
    "bool": _set_bool,
    "level": _set_level,
    "sort": _set_sort,
    "int": _set_int,
    "hosts": _set_hosts,
}


def parse_query(text: str, base: SearchQuery | None = None) -> SearchQuery:
    """Apply the tokens of `text` to `base` (default: `SearchQuery()`).

    Raises QueryError, whose message is one line naming the offending token; never any
    other exception.
    """
    base = base if base is not None else SearchQuery()
    parser = _Parser(base)
    for raw, pieces in _tokenize(text):
        parser.token(raw, pieces)
    if not parser.source:
        return base
    return parser.validate()


# --- printing -------------------------------------------------------------------------

_NEEDS_QUOTES: Final = frozenset(',"=<>')


def _fmt_number(value: float) -> str:
    # Integral values print without ".0"; past 1e16 repr's exponent form is shorter.
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(float(value))


def _fmt_bound(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _fmt_number(value)
    return str(value)


def _fmt_value(value: str) -> str:
    if value and not any(ch in _NEEDS_QUOTES or ch.isspace() for ch in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _fmt_list(values: tuple[str, ...]) -> str:
    return ",".join(_fmt_value(v) for v in values)


def format_query(query: SearchQuery) -> str:
    """The canonical text of `query`: parse_query(format_query(q)) == q.

    Defaults are left out, so format_query(SearchQuery()) == "".
    """
    parts: list[str] = []
    if query.gpu_models:
        parts.append(f"gpu={_fmt_list(query.gpu_models)}")
    if query.gpu_category is not None:
        parts.append(f"category={query.gpu_category}")
    if query.min_gpu_count is not None:
        parts.append(f"count>={query.min_gpu_count}")
    if query.min_price is not None:
        parts.append(f"price>={_fmt_number(query.min_price)}")
    if query.max_price is not None:
        parts.append(f"price<={_fmt_number(query.max_price)}")
    for name, number in (
        ("ram", query.min_ram),
        ("storage", query.min_storage),
        ("vram", query.min_gpu_memory),
        ("cuda", query.min_cuda),
        ("perf", query.min_performance),
        ("rel", query.min_reliability),
    ):
        if number is not None:
            parts.append(f"{name}>={_fmt_number(number)}")
    if query.regions:
        parts.append(f"region={_fmt_list(query.regions)}")
    if query.providers:
        names = tuple(SHORT_NAMES.get(p, p) for p in query.providers)
        parts.append(f"provider={_fmt_list(names)}")
    if not query.available:
        parts.append("all")
    if query.min_availability is not None:
        parts.append(f"avail>={query.min_availability}")
    if query.fits is not None:
        parts.append(f"fits={query.fits}")  # canonical: no spaces or quotes
    if query.hosts == "all":
        parts.append("hosts=all")
    if (query.sort_by, query.sort_order) != ("price", "asc"):
        sign = "-" if query.sort_order == "desc" else ""
        parts.append(f"sort={sign}{query.sort_by}")
    if query.limit is not None:
        parts.append(f"limit={query.limit}")
    if query.offset:
        parts.append(f"offset={query.offset}")
    return " ".join(parts)
