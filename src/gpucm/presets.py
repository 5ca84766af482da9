"""Saved filters and price watches, kept in one readable TOML file in the config dir.

    [filters]
    cheap-4090 = 'gpu="RTX 4090" price<=0.5'

    [watches.cheap-4090]
    filter = "cheap-4090"        # a saved filter, or: query = '...'
    price_at_or_under = 0.40     # $/h for the whole offer
    min_offers = 10              # at least N matching offers
    new_provider = true          # a provider that did not offer it before

    [watches.cheap-4090.launch]  # optional: a snipe (gpucm/launch_template.py)
    max_price_per_hour = 0.45

A filter is stored as query text (the language of the query bar) so the file reads the
way the user typed it. A watch needs a filter or a query and at least one condition;
each condition raises its own alerts. A watch with a launch action may have no
condition: any matching offer within its max $/h fires it. Whether a launch action
is armed is kept in the store (engine/armings.py), not here.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from gpucm import paths
from gpucm.config_file import read_toml
from gpucm.domain.models import SearchQuery
from gpucm.domain.query import QueryError, parse_query
from gpucm.launch_template import LaunchTemplate, TemplateError, parse_template

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_WATCH_KEYS = {"filter", "query", "price_at_or_under", "min_offers", "new_provider", "launch"}


class PresetError(ValueError):
    """A presets file, name or entry that cannot be used; the message says which."""


class PresetWriteError(PresetError):
    """The presets file cannot be written (a read-only home, a directory in its place):
    nothing was saved, and the file is as it was."""


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise PresetError(
            f"invalid name {name!r}: use letters, digits, '-', '_' or '.', up to 40 characters"
        )
    return name


@dataclass(frozen=True)
class Watch:
    name: str
    query_text: str
    filter_name: str | None = None
    price_at_or_under: float | None = None
    min_offers: int | None = None
    new_provider: bool = False
    launch: LaunchTemplate | None = None

    @property
    def armed(self) -> bool:
        """It launches when it matches: the user armed its launch action (a watch
        from the store's arming; one read from filters.toml only in an old file)."""
        return self.launch is not None and self.launch.armed is not None

    def query(self) -> SearchQuery:
        return parse_query(self.query_text)

    def armed_at(self, stamp: str | None) -> Watch:
        """This watch with its launch action armed at `stamp` (None: disarmed)."""
        if self.launch is None:
            return self
        return replace(self, launch=replace(self.launch, armed=stamp))

    def conditions(self) -> list[str]:
        out = []
        if self.price_at_or_under is not None:
            out.append(f"price <= ${self.price_at_or_under:g}/h")
        if self.min_offers is not None:
            out.append(f">= {self.min_offers} offers")
        if self.new_provider:
            out.append("a new provider")
        return out

    def describe(self) -> str:
        what = f"filter {self.filter_name}" if self.filter_name else repr(self.query_text)
        said = f"{what}: {' or '.join(self.conditions())}" if self.conditions() else what
        if self.launch is not None:
            state = "ARMED, launches" if self.armed else "disarmed; would launch"
            said += f"; {state} {self.launch.describe()}"
        return said

    def to_toml(self) -> dict[str, Any]:
        data: dict[str, Any] = (
            {"filter": self.filter_name} if self.filter_name else {"query": self.query_text}
        )
        if self.price_at_or_under is not None:
            data["price_at_or_under"] = self.price_at_or_under
        if self.min_offers is not None:
            data["min_offers"] = self.min_offers
        if self.new_provider:
            data["new_provider"] = True
        if self.launch is not None:
            data["launch"] = self.launch.to_toml()
        return data


@dataclass(frozen=True)
class PresetBook:
    filters: dict[str, str] = field(default_factory=dict)
    watches: dict[str, Watch] = field(default_factory=dict)

    def filter_query(self, name: str) -> SearchQuery:
        text = self.filters.get(name)
        if text is None:
            known = ", ".join(sorted(self.filters)) or "none saved yet"
            raise PresetError(f"no saved filter named {name!r} (saved: {known})")
        return parse_query(text)


def _number(value: Any, where: str, *, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if not ok or isinstance(value, bool) or value < 0:
        kind = "a whole number" if integer else "a number"
        raise PresetError(f"{where}: must be {kind} >= 0, not {value!r}")
    return value


def _parse_watch(name: str, raw: Any, filters: dict[str, str], where: str) -> Watch:
    if not isinstance(raw, dict):
        raise PresetError(f"{where}: must be a table of settings")
    unknown = set(raw) - _WATCH_KEYS
    if unknown:
        raise PresetError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    filter_name = raw.get("filter")
    if filter_name is not None:
        if filter_name not in filters:
            raise PresetError(f"{where}: no saved filter named {filter_name!r}")
        text = filters[filter_name]
    elif isinstance(raw.get("query"), str):
        text = raw["query"]
    else:
        raise PresetError(f"{where}: needs filter = NAME or query = '...'")
    try:
        parse_query(text)
    except QueryError as exc:
        raise PresetError(f"{where}: {exc}") from None
    price = raw.get("price_at_or_under")
    count = raw.get("min_offers")
    new_provider = raw.get("new_provider", False)
    if not isinstance(new_provider, bool):
        raise PresetError(f"{where}.new_provider: must be true or false")
    launch = None
    if "launch" in raw:
        try:
            launch = parse_template(raw["launch"])
        except TemplateError as exc:
            raise PresetError(f"{where}.launch: {exc}") from None
    watch = Watch(
        name=name,
        query_text=text,
        filter_name=filter_name,
        price_at_or_under=None if price is None else float(_number(price, f"{where}.price")),
        min_offers=None if count is None else _number(count, f"{where}.min_offers", integer=True),
        new_provider=new_provider,
        launch=launch,
    )
    if not watch.conditions() and launch is None:
        raise PresetError(
            f"{where}: needs a condition: price_at_or_under, min_offers, new_provider"
            " or a launch action"
        )
    return watch


def parse_book(data: dict[str, Any], source: str) -> PresetBook:
    filters_raw = data.get("filters", {})
    if not isinstance(filters_raw, dict):
        raise PresetError(f"{source}: [filters] must be a table of name = 'query'")
    filters: dict[str, str] = {}
    for name, text in filters_raw.items():
        where = f"{source}: filters.{name}"
        if not isinstance(text, str):
            raise PresetError(f"{where}: must be query text in quotes")
        try:
            check_name(name)
            parse_query(text)
        except (QueryError, PresetError) as exc:
            raise PresetError(f"{where}: {exc}") from None
        filters[name] = text
    watches_raw = data.get("watches", {})
    if not isinstance(watches_raw, dict):
        raise PresetError(f"{source}: [watches] must hold one table per watch")
    watches = {
        name: _parse_watch(name, raw, filters, f"{source}: watches.{name}")
        for name, raw in watches_raw.items()
    }
    return PresetBook(filters, watches)


def _read(path: Path) -> dict[str, Any]:
    return read_toml(path, PresetError)


def load_book(path: Path | None = None) -> PresetBook:
    path = path or paths.presets_file()
    return parse_book(_read(path), str(path))


def _write(path: Path, data: dict[str, Any]) -> None:
    parse_book(data, str(path))  # never write a file the next read would refuse
    # one temporary file per writer: two processes saving at once (two `gpucm watch
    # --once` disarming a watch) must not write into one file
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            fh.write(b"# gpucm saved filters and watches (see `gpucm watch --help`)\n")
            tomli_w.dump(data, fh)
        os.replace(tmp, path)
    except BaseException as exc:
        # a failed save leaves the file as it was, and no stray (where the directory
        # cannot be written, there is none to remove)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise PresetWriteError(f"cannot save to {path}: {exc.strerror or exc}") from None
        raise


def save_filter(name: str, query_text: str, path: Path | None = None) -> None:
    path = path or paths.presets_file()
    check_name(name)
    try:
        parse_query(query_text)
    except QueryError as exc:
        raise PresetError(str(exc)) from None
    data = _read(path)
    data.setdefault("filters", {})[name] = query_text
    _write(path, data)


def delete_filter(name: str, path: Path | None = None) -> None:
    path = path or paths.presets_file()
    data = _read(path)
    if name not in data.get("filters", {}):
        raise PresetError(f"no saved filter named {name!r}")
    users = [w for w, raw in data.get("watches", {}).items() if raw.get("filter") == name]
    if users:
        raise PresetError(f"filter {name!r} is used by watch(es) {', '.join(users)}")
    del data["filters"][name]
    _write(path, data)


def save_watch(watch: Watch, path: Path | None = None) -> None:
    path = path or paths.presets_file()
    check_name(watch.name)
    data = _read(path)
    data.setdefault("watches", {})[watch.name] = watch.to_toml()
    _write(path, data)


def clear_armed(name: str, was: str, path: Path | None = None) -> bool:
    """Remove an old file's `armed = "..."` from a watch once the store holds that
    arming; not when the line says another time now. Returns whether the file changed."""
    path = path or paths.presets_file()
    data = _read(path)
    raw = data.get("watches", {}).get(name)
    if not isinstance(raw, dict) or not isinstance(raw.get("launch"), dict):
        return False
    launch = raw["launch"]
    if launch.get("armed") != was:
        return False
    del launch["armed"]
    _write(path, data)
    return True


def delete_watch(name: str, path: Path | None = None) -> None:
    path = path or paths.presets_file()
    data = _read(path)
    if name not in data.get("watches", {}):
        raise PresetError(f"no watch named {name!r}")
    del data["watches"][name]
    _write(path, data)


class BookFile:
    """The presets file for long-running front ends: re-read when it changes; a broken
    edit keeps the last good book and is reported once through `on_error`."""

    def __init__(self, path: Path, on_error: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.on_error = on_error
        self._stamp: tuple[float, int] | None = None
        self._read = False
        self.book = PresetBook()

    def current(self) -> PresetBook:
        try:
            st = self.path.stat()
            stamp: tuple[float, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._stamp or not self._read:
            self._stamp, self._read = stamp, True
            try:
                self.book = load_book(self.path)
            except PresetError as exc:
                if self.on_error is not None:
                    self.on_error(f"{exc} (keeping the previous watches)")
        return self.book
