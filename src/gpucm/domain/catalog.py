"""The GPU catalog: packaged specs, a user's additions, and provider-name normalisation.

Every provider spells the same GPU differently ("NVIDIA GeForce RTX 4090", "RTX_4090",
"H100 (80 GB SXM5)", "A100-80G", "Q RTX 8000"...). `Catalog.resolve` maps any of them to
one catalog entry, using the GPU memory the provider reports to tell apart variants that
share a name (Vast's "A100 SXM4" is 40 GB or 80 GB). Pure domain code: no textual or rich,
and no IO until a catalog is first asked for.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gpucm.domain.models import CATEGORIES, GpuModel

log = logging.getLogger(__name__)

__all__ = [
    "MAX_SCORE",
    "Catalog",
    "CatalogError",
    "CatalogSource",
    "score_from_specs",
]

CATALOG_RESOURCE = "gpu_catalog.toml"

# --- performance score -------------------------------------------------------------------
# The formula is documented at the top of gpu_catalog.toml; this is its one definition.
REFERENCE_FP16_TFLOPS = 165.2  # RTX 4090, dense FP16/BF16 tensor with FP32 accumulate
REFERENCE_BANDWIDTH_GBPS = 1008.0  # RTX 4090
TOP_FP16_TFLOPS = 989.5  # H100 SXM, dense FP16/BF16 tensor
TOP_BANDWIDTH_GBPS = 3350.0  # H100 SXM
REFERENCE_SCORE = 100
TOP_SCORE = 150
MAX_SCORE = 150

_TOP_LOG_RATIO = (
    math.log(TOP_FP16_TFLOPS / REFERENCE_FP16_TFLOPS)
    + math.log(TOP_BANDWIDTH_GBPS / REFERENCE_BANDWIDTH_GBPS)
) / 2
_SCORE_INPUTS = ("fp16_tflops", "fp32_tflops", "memory_bandwidth_gbps")


def score_from_specs(
    *,
    fp16_tflops: float | None,
    memory_bandwidth_gbps: float | None,
    fp32_tflops: float | None = None,
) -> int:
    """Performance score (0..150) from published specs; RTX 4090 = 100, H100 SXM = 150.

    score = 100 + 50 * ln(x) / ln(x_H100), where x is the geometric mean of
    compute / 165.2 TFLOPS and bandwidth / 1008 GB/s (the RTX 4090's figures). Compute is
    the dense FP16/BF16 tensor rate; parts without one (no tensor cores and no full-rate
    FP16) run matrix math at their FP32 rate, so FP32 stands in. A missing term is left
    out of the mean. Values outside 0..150 are clamped.
    """
    compute = fp16_tflops if fp16_tflops else fp32_tflops
    logs: list[float] = []
    if compute and compute > 0:
        logs.append(math.log(compute / REFERENCE_FP16_TFLOPS))
    if memory_bandwidth_gbps and memory_bandwidth_gbps > 0:
        logs.append(math.log(memory_bandwidth_gbps / REFERENCE_BANDWIDTH_GBPS))
    if not logs:
        raise ValueError("need fp16_tflops, fp32_tflops or memory_bandwidth_gbps")
    raw = REFERENCE_SCORE + (TOP_SCORE - REFERENCE_SCORE) * (sum(logs) / len(logs)) / _TOP_LOG_RATIO
    # floor(x + 0.5) rather than round(): banker's rounding would make x.5 scores uneven.
    return int(min(MAX_SCORE, max(0, math.floor(raw + 0.5))))


def _score_of(fields: Mapping[str, Any]) -> int | None:
    def number(key: str) -> float | None:
        value = fields.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None

    try:
        return score_from_specs(
            fp16_tflops=number("fp16_tflops"),
            memory_bandwidth_gbps=number("memory_bandwidth_gbps"),
            fp32_tflops=number("fp32_tflops"),
        )
    except ValueError:
        return None


# --- name parsing ------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[^0-9a-z]+")
_WORDS = re.compile(r"[a-z]+|[0-9]+")
_MEMORY_TOKEN = re.compile(r"^([0-9]+)(?:gb|gib|g)$")
_MEMORY_UNITS = frozenset({"gb", "gib", "g"})
_MEMORY_KIND = re.compile(r"^(?:hbm[0-9]*e?|gddr[0-9]+x?)$")
_COUNT_TOKEN = re.compile(r"^(?:x[0-9]{1,2}|[0-9]{1,2}x)$")
# "A100-80Gx8", "H100x8", "A4000x2": a GPU count glued to the name (Paperspace labels).
_GLUED_COUNT = re.compile(r"^(.*[0-9g])x[0-9]{1,2}$")
_FORM_FACTOR = re.compile(r"^(sxm|pcie|nvl|oam)[0-9]*$")
_FORM_FACTORS = {"sxm": "SXM", "pcie": "PCIe", "nvl": "NVL", "oam": "OAM"}
# Brand and filler words: providers add or drop them freely, so they never tell GPUs apart.
_NOISE = frozenset(
    {
        "nvidia",
        "geforce",
        "tesla",
        "quadro",
        "q",
        "rtx",
        "gtx",
        "amd",
        "radeon",
        "instinct",
        "rx",
        "generation",
        "gpu",
        "tensor",
        "core",
    }
)
# Words that only name a product generation: dropped to find a sibling by memory when the
# provider leaves them out ("RTX 6000" with 48 GB is an RTX 6000 Ada, not the 24 GB Quadro).
_GENERATION_WORDS = frozenset({"ada", "blackwell", "pro"})
# Tolerance for matching reported memory to a catalog entry: providers report usable
# memory (Vast: 46068 MB for a 48 GB L40S), a bit under the spec-sheet figure.
_MEMORY_TOLERANCE = 0.12
_RESOLVE_CACHE_LIMIT = 50_000


def _simple_key(text: str) -> str:
    """Case and separators ignored: 'RTX_4090' == 'rtx 4090' == 'RTX-4090'."""
    return " ".join(t for t in _SEPARATORS.split(text.casefold()) if t)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A GPU name taken apart: what identifies it, and what it says besides."""

    core: str  # identifying words, brand/memory/form factor removed: "h 100", "6000 ada"
    form_factor: str | None
    memory_gb: float | None


@lru_cache(maxsize=8192)
def _parse(raw: str) -> _Parsed:
    text = raw.casefold().replace("pci-e", "pcie").replace("pci e", "pcie")
    tokens = [t for t in _SEPARATORS.split(text) if t]
    core: list[str] = []
    form_factor: str | None = None
    memory: float | None = None
    for i, token in enumerate(tokens):
        if _COUNT_TOKEN.match(token) or _MEMORY_KIND.match(token):
            continue
        glued = _GLUED_COUNT.match(token)
        if glued:
            token = glued.group(1)
        if token in _MEMORY_UNITS and i > 0 and tokens[i - 1].isdigit():
            continue
        if mem := _MEMORY_TOKEN.match(token):
            memory = float(mem.group(1))
            continue
        if token.isdigit() and i + 1 < len(tokens) and tokens[i + 1] in _MEMORY_UNITS:
            memory = float(token)
            continue
        if ff := _FORM_FACTOR.match(token):
            form_factor = _FORM_FACTORS[ff.group(1)]
            continue
        core.extend(w for w in _WORDS.findall(token) if w not in _NOISE)
    return _Parsed(" ".join(core), form_factor, memory)


def _loosen(core: str) -> str:
    return " ".join(w for w in core.split() if w not in _GENERATION_WORDS)


def _fits(model: GpuModel, memory_gb: float | None) -> bool:
    if memory_gb is None or model.memory_gb <= 0:
        return memory_gb is None
    return abs(model.memory_gb - memory_gb) <= _MEMORY_TOLERANCE * model.memory_gb


def _closest(models: Iterable[GpuModel], memory_gb: float) -> GpuModel | None:
    fitting = [m for m in models if _fits(m, memory_gb)]
    if not fitting:
        return None
    # min() keeps the first of equals, so ties go to catalog order (the default variant).
    return min(fitting, key=lambda m: abs(m.memory_gb - memory_gb))


def _form_factor_ok(model: GpuModel, form_factor: str | None) -> bool:
    return form_factor is None or model.form_factor in (None, form_factor)


class CatalogError(Exception):
    """A catalog that cannot be used; the message is one line naming the file and problem."""


class Catalog:
    """An ordered set of GPU models with lookup by canonical name, provider spelling or family.

    Within a family the first entry is the default variant: a provider name that does not
    say which variant ("A100 SXM4" with no memory, "Tesla V100") resolves to it.
    """

    def __init__(self, models: Iterable[GpuModel], *, index_later: bool = False) -> None:
        """`index_later`: build the spelling index (and check the aliases) when a name
        is first resolved or expanded, not now. Only for the packaged catalog, whose
        aliases the tests check: a command that shows offers only looks models up by
        name, and the index is ~3 ms of its start. A user's file is checked as read."""
        self.models: tuple[GpuModel, ...] = tuple(models)
        self._by_name: dict[str, GpuModel] = {}
        for model in self.models:
            name_key = model.name.casefold()
            if name_key in self._by_name:
                raise CatalogError(f"GPU model {model.name!r} is defined twice")
            self._by_name[name_key] = model
        self._indexed = False
        self._resolve_cache: dict[tuple[str, float | None], GpuModel] = {}
        # search terms -> model names (`expand`): a long list of them is worth remembering
        self._expand_cache: dict[str, tuple[str, ...]] = {}
        if not index_later:
            self._index()

    def _index(self) -> None:
        """Every spelling, name core and family of the models, checking the aliases."""
        if self._indexed:
            return
        spellings: dict[str, GpuModel] = {}
        cores: dict[str, list[GpuModel]] = {}
        loose_cores: dict[str, list[GpuModel]] = {}
        families: dict[str, list[GpuModel]] = {}
        for model in self.models:
            families.setdefault(_simple_key(model.family), []).append(model)
            for spelling in (model.name, *model.aliases):
                key = _simple_key(spelling)
                if not key:
                    raise CatalogError(f"{model.name!r} has an empty alias")
                other = spellings.get(key)
                if other is not None and other is not model:
                    raise CatalogError(f"{spelling!r} names both {other.name!r} and {model.name!r}")
                spellings[key] = model
                core = _parse(spelling).core
                if core:
                    variants = cores.setdefault(core, [])
                    if model not in variants:
                        variants.append(model)
                    loose = loose_cores.setdefault(_loosen(core), [])
                    if model not in loose:
                        loose.append(model)
        self._spellings = spellings
        self._cores = cores
        self._loose = loose_cores
        self._families = {key: tuple(ms) for key, ms in families.items()}
        self._family_names = tuple(dict.fromkeys(m.family for m in self.models))
        self._indexed = True

    def __repr__(self) -> str:
        return f"Catalog({len(self.models)} models)"

    def __len__(self) -> int:
        return len(self.models)

    @classmethod
    def builtin(cls, parsed_cache: Path | None = None) -> Catalog:
        """The packaged catalog, read once per process. `parsed_cache`: a file that
        keeps its parse from one process to the next (the composition root names one
        in the cache dir)."""
        return _builtin_catalog(parsed_cache)

    @classmethod
    def load(cls, user_file: Path | None = None, *, parsed_cache: Path | None = None) -> Catalog:
        """The packaged catalog merged with a user's TOML file of the same format.

        A user entry whose name matches a packaged model overrides it field by field (so a
        user can change just one value); a new name adds a model. A missing file is not an
        error: most users never write one.
        """
        base = cls.builtin(parsed_cache)
        if user_file is None:
            return base
        try:
            raw = user_file.read_bytes()
        except FileNotFoundError:
            return base
        except OSError as exc:
            raise CatalogError(f"{user_file}: cannot read: {exc.strerror or exc}") from exc
        entries = _entries_from_toml(raw, str(user_file))
        models = _merge(base.models, entries, str(user_file))
        try:
            return cls(models)
        except CatalogError as exc:
            raise CatalogError(f"{user_file}: {exc}") from exc

    def get(self, name: str) -> GpuModel | None:
        """The model with this canonical name (case-insensitive); aliases are not searched."""
        return self._by_name.get(name.strip().casefold())

    def resolve(self, raw_name: str, memory_gb: float | None = None) -> GpuModel:
        """The catalog model for a provider's GPU name; never None.

        `memory_gb` is the memory per GPU the provider reports; it picks the variant when the
        name is ambiguous. Unknown names give `GpuModel.unknown(raw_name, memory_gb)`, so an
        offer for a GPU the catalog lacks is shown, not dropped.
        """
        if memory_gb is not None and memory_gb <= 0:
            memory_gb = None
        key = (raw_name, memory_gb)
        hit = self._resolve_cache.get(key)
        if hit is not None:
            return hit
        model = self._find(raw_name, memory_gb) or GpuModel.unknown(raw_name, memory_gb)
        if len(self._resolve_cache) >= _RESOLVE_CACHE_LIMIT:
            self._resolve_cache.clear()
        self._resolve_cache[key] = model
        return model

    def _find(self, raw_name: str, memory_gb: float | None) -> GpuModel | None:
        self._index()
        parsed = _parse(raw_name)
        exact = self._spellings.get(_simple_key(raw_name))
        # An alias that spells out its memory was written for exactly that memory.
        if exact is not None and (parsed.memory_gb is not None or _fits(exact, memory_gb)):
            return exact
        # Memory in the name beats the provider's figure, which is often rounded down.
        memory = parsed.memory_gb or memory_gb
        variants = self._cores.get(parsed.core, [])
        pool = [m for m in variants if _form_factor_ok(m, parsed.form_factor)] or variants
        if memory is not None:
            best = _closest(pool, memory)
            if best is None:
                best = _closest(self._loose.get(_loosen(parsed.core), ()), memory)
            if best is not None:
                return best
            if parsed.memory_gb is not None:
                # The name claims a size no variant has ("GH200 (144 GB)" is another part).
                return None
        if exact is not None:
            return exact
        return pool[0] if pool else None

    def expand(self, term: str) -> tuple[str, ...]:
        """Canonical model names a search term matches.

        A family name ("H100", "a100", also "NVIDIA H100") gives every variant; a variant
        name or alias ("H100 PCIe", "A100 80GB SXM") gives just that variant; a partial
        variant ("A100 SXM4", "A100-80G") gives every variant it fits; anything else is
        resolved like a provider name, and unknown text comes back unchanged so it still
        matches offers that carry that raw name.
        """
        cached = self._expand_cache.get(term)
        if cached is not None:
            return cached
        names = self._expand(term)
        if len(self._expand_cache) >= _RESOLVE_CACHE_LIMIT:
            self._expand_cache.clear()
        self._expand_cache[term] = names
        return names

    def _expand(self, term: str) -> tuple[str, ...]:
        self._index()
        key = _simple_key(term)
        family = self._families.get(key)
        if family:
            return tuple(m.name for m in family)
        exact = self._spellings.get(key)
        if exact is not None:
            return (exact.name,)
        parsed = _parse(term)
        pool = [
            m
            for m in self._cores.get(parsed.core, ())
            if _form_factor_ok(m, parsed.form_factor)
            and (parsed.memory_gb is None or _fits(m, parsed.memory_gb))
        ]
        if pool:
            return tuple(m.name for m in pool)
        # as `resolve` would, without building a model for a name it does not know
        model = self._find(term, None)
        return (term,) if model is None else (model.name,)

    def families(self) -> tuple[str, ...]:
        self._index()
        return self._family_names

    def by_category(self) -> dict[str, tuple[GpuModel, ...]]:
        """Models per category, categories in their canonical order, empty ones left out."""
        grouped = {c: tuple(m for m in self.models if m.category == c) for c in CATEGORIES}
        return {c: ms for c, ms in grouped.items() if ms}


_builtin: Catalog | None = None
_builtin_lock = threading.Lock()


def _builtin_catalog(parsed_cache: Path | None) -> Catalog:
    """Read once per process, wherever its parse is kept: it is the same catalog."""
    global _builtin
    with _builtin_lock:
        if _builtin is None:
            raw = Path(__file__).with_name(CATALOG_RESOURCE).read_bytes()
            source = f"gpucm/domain/{CATALOG_RESOURCE}"
            if parsed_cache is None:
                entries = _entries_from_toml(raw, source)
            else:
                entries = _builtin_entries(raw, source, parsed_cache)
            _builtin = Catalog(_merge((), entries, source), index_later=True)
        return _builtin


def _builtin_entries(raw: bytes, source: str, parsed_cache: Path) -> list[dict[str, Any]]:
    """The packaged catalog's tables, as parsed, kept in `parsed_cache` under the
    TOML's hash: reading TOML is ~5 ms of every command, JSON ~0.3 ms. The TOML file
    stays the one place the catalog is written: a changed file has another hash."""
    import hashlib
    import json

    digest = hashlib.sha256(raw).hexdigest()
    try:
        kept = json.loads(parsed_cache.read_bytes())
        if isinstance(kept, dict) and kept.get("sha256") == digest:
            entries = kept.get("gpu")
            if isinstance(entries, list) and all(isinstance(e, dict) for e in entries):
                return entries
    except (OSError, ValueError):
        pass  # none yet, or unreadable: parsed below, and written afresh
    entries = _entries_from_toml(raw, source)
    try:
        parsed_cache.parent.mkdir(parents=True, exist_ok=True)
        # whole or not at all, whoever else writes it at the same moment
        tmp = parsed_cache.with_name(f"{parsed_cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"sha256": digest, "gpu": entries}), encoding="utf-8")
        os.replace(tmp, parsed_cache)
    except OSError as exc:  # a read-only home: the next start parses the TOML again
        log.debug("cannot keep the parsed GPU catalog in %s: %s", parsed_cache, exc)
    return entries


def _entries_from_toml(raw: bytes, source: str) -> list[dict[str, Any]]:
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{source}: not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{source}: invalid TOML: {exc}") from exc
    except RecursionError:
        raise CatalogError(f"{source}: invalid TOML: nested too deeply") from None
    unknown = sorted(set(data) - {"gpu"})
    if unknown:
        raise CatalogError(
            f"{source}: unknown top-level key {unknown[0]!r} (expected only [[gpu]] tables)"
        )
    entries = data.get("gpu", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CatalogError(f"{source}: 'gpu' must be an array of tables ([[gpu]])")
    return entries


def _merge(
    base: Sequence[GpuModel], entries: Sequence[Mapping[str, Any]], source: str
) -> list[GpuModel]:
    models = list(base)
    index = {m.name.casefold(): i for i, m in enumerate(models)}
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise CatalogError(f"{source}: [[gpu]] entry {number} has no name")
        key = name.strip().casefold()
        if key in seen:
            raise CatalogError(f"{source}: [[gpu]] {name!r} is defined twice")
        seen.add(key)
        position = index.get(key)
        fields: dict[str, Any]
        if position is not None:
            original = models[position]
            fields = {**original.model_dump(), **entry, "name": original.name}
            if "performance_score" not in entry and any(k in entry for k in _SCORE_INPUTS):
                fields.pop("performance_score")
        else:
            fields = {"family": name.strip(), **entry}
        if "performance_score" not in fields:
            score = _score_of(fields)
            if score is None:
                raise CatalogError(
                    f"{source}: [[gpu]] {name!r}: performance_score is missing and there are "
                    "no specs (fp16_tflops, fp32_tflops, memory_bandwidth_gbps) to compute it"
                )
            fields["performance_score"] = score
        try:
            model = GpuModel.model_validate(fields)
        except ValidationError as exc:
            raise CatalogError(f"{source}: [[gpu]] {name!r}: {_describe(exc)}") from exc
        if position is None:
            index[key] = len(models)
            models.append(model)
        else:
            models[position] = model
    return models


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "entry"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


_Signature = tuple[int, int, int] | tuple[str, int]


class CatalogSource:
    """Hot reload: builtin + the user's file, re-read when the file's mtime/size changes.

    `current()` is cheap enough to call per refresh or per keystroke: it stats the file at
    most once per `min_check_interval` seconds. A broken file keeps the last good catalog
    and sets `last_error`, so a half-saved edit never takes the app down.
    """

    def __init__(
        self,
        user_file: Path | None,
        *,
        parsed_cache: Path | None = None,
        min_check_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user_file = user_file
        self.parsed_cache = parsed_cache
        self.last_error: str | None = None
        self._interval = min_check_interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._signature: _Signature | None = None
        self._checked_at: float | None = None

    def current(self) -> Catalog:
        with self._lock:
            now = self._monotonic()
            if (
                self._catalog is not None
                and self._checked_at is not None
                and now - self._checked_at < self._interval
            ):
                return self._catalog
            self._checked_at = now
            signature = self._stat()
            if self._catalog is not None and signature == self._signature:
                return self._catalog
            # Remember the signature even if loading fails: a broken file is reported once,
            # not re-parsed every interval until the user saves it again.
            self._signature = signature
            try:
                self._catalog = Catalog.load(
                    self.user_file if signature is not None else None,
                    parsed_cache=self.parsed_cache,
                )
                self.last_error = None
            except CatalogError as exc:
                self.last_error = str(exc)
                if self._catalog is None:
                    self._catalog = Catalog.builtin(self.parsed_cache)
                    kept = "using the built-in catalog"
                else:
                    kept = "keeping the catalog read before"
                # said once per change of the file (its signature is remembered above)
                log.warning("%s; %s until it is fixed", exc, kept)
            return self._catalog

    def _stat(self) -> _Signature | None:
        if self.user_file is None:
            return None
        try:
            st = os.stat(self.user_file)
        except FileNotFoundError:
            return None
        except OSError as exc:
            # Unreadable: give it a signature so load() runs and reports the problem.
            return ("unreadable", exc.errno or 0)
        return (st.st_mtime_ns, st.st_size, st.st_ino)
