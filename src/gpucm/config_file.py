"""Reading the config file without pydantic: what gpucm-tui's first screen needs (which
database, which theme) before the rest of the app has imported. `gpucm.config` builds
the validated Settings on top of this."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpucm.domain.provider_names import KEY_ENV, PROVIDERS, canonical_provider

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """A config problem; the message names the file and the setting."""


def parse_log_level(value: str) -> str:
    """LOG_LEVEL (or log_level in the file) as logging names it; ValueError if unknown.
    One rule for the CLI, the TUI and the server."""
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def read_toml(path: Path, error: type[Exception] = ConfigError) -> dict[str, Any]:
    """A TOML file of gpucm's (config, saved filters, catalog, theme); {} when there is
    none. Any problem is `error` with one line naming the file: unreadable, not UTF-8,
    not TOML, or nested too deeply for the parser."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise error(f"cannot read {path}: it is a directory") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        # the byte offset only: the bytes around it could be part of a key
        raise error(
            f"{path} is not UTF-8 text (byte {exc.start} cannot be read); "
            "a TOML file must be saved as UTF-8"
        ) from None
    import tomllib  # only once there is a file: the CLI's parser imports this module

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise error(f"{path} is not valid TOML: nested too deeply") from None


def read_config(path: Path) -> dict[str, Any]:
    """The raw TOML of the config file; {} when there is none."""
    return read_toml(path)


def key_is_set(api_key: str | None, enabled: bool = True) -> bool:
    """The one rule for "this provider is configured"."""
    return enabled and bool(api_key and api_key.strip())


def configured_providers(env: Mapping[str, str], data: Mapping[str, Any]) -> list[str]:
    """Providers with a usable key, from the environment or the file's [providers]."""
    raw = data.get("providers")
    tables: dict[str, Mapping[str, Any]] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            name = canonical_provider(str(key))
            if name and isinstance(value, dict):
                tables[name] = value
    result = []
    for name in PROVIDERS:
        table = tables.get(name, {})
        key = env.get(KEY_ENV[name]) or table.get("api_key")
        enabled = table.get("enabled", True) is not False
        if key_is_set(key if isinstance(key, str) else None, enabled):
            result.append(name)
    return result
