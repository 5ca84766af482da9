"""The user's keymap: `[keymap]` in config.toml, binding id = keys, as Textual spells
keys and lists them ("ctrl+l", "L,ctrl+l"). gpucm-tui checks it before the app starts
(a bad entry is one line naming it, exit 2) and hands it to `App.set_keymap`.

An id names one action wherever it is bound: `cursor.down` moves down in the offer
table, the market table, the help and the compare screen alike. TOML reads an unquoted
`table.launch = "x"` as a nested table; both spellings are taken.

This module is imported before the first screen paints, so it imports nothing but
Textual's key tables: the ids a keymap may name are listed here, and a test keeps the
list and the bindings in the code equal (each id with its default keys).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

from textual.keys import KEY_TO_UNICODE_NAME, REPLACED_KEYS, Keys, _character_to_key

from gpucm.config_file import ConfigError

if TYPE_CHECKING:
    from textual.binding import Binding

__all__ = [
    "DEFAULT_KEYS",
    "KeymapError",
    "check_keymap",
    "check_keys",
    "clashes",
    "keys_for",
]

# every binding id, with its default keys (as in the Binding)
DEFAULT_KEYS: Final[dict[str, str]] = {
    "app.quit": "q",
    "app.help": "question_mark,f1",
    "app.palette": "ctrl+p",
    "cursor.up": "up,k",
    "cursor.down": "down,j",
    "cursor.page_up": "pageup",
    "cursor.page_down": "pagedown",
    "cursor.top": "home,g",
    "cursor.bottom": "end,G",
    "columns.left": "left",
    "columns.right": "right",
    "table.query": "slash",
    "table.filters": "f",
    "table.sort": "s",
    "table.reverse_sort": "S",
    "table.refresh": "r",
    "table.compare": "c",
    "table.mark": "space",
    "table.unmark_all": "u",
    "table.detail": "enter",
    "table.launch": "L",
    "table.instances": "i",
    "table.charts": "d",
    "table.market": "m",
    "table.focus": "escape",
    "filters.to_list": "down",
    "detail.close": "escape,q,enter",
    "detail.launch": "L",
    "compare.close": "escape,q,c",
    "compare.previous": "left,h",
    "compare.next": "right,l",
    "compare.launch": "L",
    "compare.gb_out": "g",
    "best.close": "escape,q",
    "best.more_hours": "plus,equals_sign",
    "best.fewer_hours": "minus",
    "best.launch": "L",
    "market.back": "escape,q,m",
    "market.window": "w",
    "market.unit": "u",
    "market.chart": "t",
    "market.sort": "s",
    "market.best": "enter",
    "instances.ssh": "s",
    "instances.copy_ssh": "y",
    "instances.stop": "x",
    "instances.start": "u",
    "instances.restart": "R",
    "instances.terminate": "t",
    "instances.logs": "l",
    "instances.back": "escape,q",
    "instances.sync": "r",
    "instances.detail": "enter",
    "instances.all": "a",
    "instances.mark_bad": "b",
    "instance.close": "escape,q,enter",
    "logs.close": "escape,q",
    "launch.cancel": "escape,q",
    "launch.add_env": "ctrl+n",
    "launch.review": "ctrl+r",
    "confirm.back": "escape,q",
    "confirm.next_option": "n",
    "disarm.confirm": "d",
    "dialog.cancel": "escape",
    "help.close": "escape,q,question_mark,f1",
}

MODIFIERS: Final = ("ctrl", "shift", "alt", "meta", "super", "hyper")
# the keys Textual names (escape, f1, pageup...), without its pseudo keys (<any>)
_NAMED: Final = frozenset(
    name for k in Keys if not (name := k.value.rpartition("+")[2]).startswith("<")
)
_EXAMPLES = "e.g. r, R, ctrl+r, f5, escape, question_mark"


class KeymapError(ConfigError):
    """A bad [keymap] entry; the message names it."""


def _key_problem(key: str) -> str | None:
    """Why `key` is not a key Textual can deliver, or None."""
    if not key:
        return "an empty key between commas"
    *modifiers, base = key.split("+")
    if len(key) > 1 and key.endswith("+"):  # "ctrl++": the plus key is spelled plus
        return f"{key!r} is not a key (the + key is spelled plus)"
    for modifier in modifiers:
        if modifier not in MODIFIERS:
            return f"{key!r} is not a key ({modifier!r} is not a modifier: {', '.join(MODIFIERS)})"
    if len(base) == 1:
        return None if base.isprintable() and not base.isspace() else f"{key!r} is not a key"
    if base in _NAMED:
        return None
    name = KEY_TO_UNICODE_NAME.get(REPLACED_KEYS.get(base, base))
    try:
        unicodedata.lookup(name or base.replace("_", " ").upper())
    except KeyError:
        return f"{key!r} is not a key ({_EXAMPLES})"
    return None


def check_keys(keys: str) -> str:
    """`keys` (comma-separated) as Textual names them ("?" -> "question_mark");
    ValueError naming the first that is not a key."""
    names = [k.strip() for k in keys.split(",")]
    if not any(names):
        raise ValueError(f"no key given ({_EXAMPLES})")
    out = []
    for name in names:
        key = _character_to_key(name) if len(name) == 1 else name
        problem = _key_problem(key)
        if problem:
            raise ValueError(problem)
        out.append(key)
    return ",".join(out)


def _flatten(table: Mapping[str, object], prefix: str = "") -> list[tuple[str, object]]:
    entries: list[tuple[str, object]] = []
    for name, value in table.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping) and path not in DEFAULT_KEYS:
            entries.extend(_flatten(value, path + "."))
        else:
            entries.append((path, value))
    return entries


def _shown(binding_id: str) -> str:
    safe = "".join(ch if ch.isprintable() else "?" for ch in binding_id[:60])
    return f'"{safe}"'


def check_keymap(raw: object, where: str = "config.toml") -> dict[str, str]:
    """[keymap] as `App.set_keymap` takes it; KeymapError, one line naming the first
    bad entry: an unknown id, a value that is not a string, no key, or not a key."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise KeymapError(f'{where}: [keymap] must be a table of binding id = "keys"')
    keymap: dict[str, str] = {}
    for binding_id, value in _flatten(raw):
        entry = f"{where}: [keymap] {_shown(binding_id)}"
        if binding_id not in DEFAULT_KEYS:
            import difflib  # only for the message; gpucm-tui's start skips it

            close = difflib.get_close_matches(binding_id, DEFAULT_KEYS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise KeymapError(f"{entry}: no binding has this id{hint}; the README lists them")
        if binding_id in keymap:
            raise KeymapError(f"{entry}: given twice")
        if not isinstance(value, str):
            raise KeymapError(f'{entry}: keys must be a string, e.g. "ctrl+l" or "L,ctrl+l"')
        try:
            keymap[binding_id] = check_keys(value)
        except ValueError as exc:
            raise KeymapError(f"{entry}: {exc}") from None
    return keymap


def keys_for(binding_id: str, keymap: Mapping[str, str]) -> list[str]:
    """The keys a binding answers to: the user's, else its defaults."""
    return (keymap.get(binding_id) or DEFAULT_KEYS[binding_id]).split(",")


def clashes(bindings: Iterable[Binding], keymap: Mapping[str, str]) -> list[str]:
    """What the keymap takes away from one node's bindings (a screen's, a table's), one
    line each: a key it gives to one id that another id there had by default (Textual
    gives the key to the mapped one and drops the other silently), or gives to two."""
    listed = list(bindings)
    given: dict[str, list[str]] = {}
    for binding in listed:
        mapped = binding.id
        if mapped is not None and mapped in keymap:
            for key in keymap[mapped].split(","):
                if mapped not in given.setdefault(key, []):
                    given[key].append(mapped)
    lines = []
    for key, ids in given.items():
        if len(ids) > 1:
            lines.append(f"{key} is given to both {ids[0]} and {ids[1]} here")
    for binding in listed:
        if binding.id not in keymap and binding.key in given:
            lines.append(
                f"{binding.key} now does {given[binding.key][0]}, so {binding.id or binding.action}"
                f" ({binding.description or binding.action}) has lost it"
            )
    return sorted(set(lines))
