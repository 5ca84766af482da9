"""Settings from the environment (the original API's names) and a TOML file.

Precedence: environment > config file > defaults. API keys are SecretStr everywhere,
so a repr, a log line or an error message shows `**********`, never the key.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from gpucm import paths
from gpucm.config_file import ConfigError as ConfigError
from gpucm.config_file import key_is_set, parse_log_level, read_config
from gpucm.db_location import database_passwords
from gpucm.domain.event_kinds import EVENT_KINDS as EVENT_KINDS
from gpucm.domain.provider_names import KEY_ENV, PROVIDERS, URL_ENV, canonical_provider

log = logging.getLogger(__name__)

DEFAULT_REFRESH_INTERVAL = 60.0
DEFAULT_DEMO_INTERVAL = 15.0
# A week. Longer is no refresh interval, and every interval becomes a timedelta: an
# infinite or astronomically long one would crash the refresh that computes it.
MAX_INTERVAL = 7 * 24 * 3600.0


def url_problem(text: str) -> str | None:
    """Why a provider base URL cannot be used, or None. Checked when the config is read:
    a bad one failed only at the next refresh, as a traceback. Never repeats the URL (it
    may carry a user and password)."""
    if any(not ch.isprintable() or ch.isspace() for ch in text):
        return "a URL cannot hold spaces or control characters"
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - parses the port, raising ValueError on a bad one
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "expected http:// or https:// and a host, e.g. https://proxy.example:8443/vast"
    return None


class ProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr | None = None
    base_url: str | None = None
    refresh_interval: float | None = Field(default=None, ge=5, le=MAX_INTERVAL)
    enabled: bool = True
    ssh_key_name: str | None = None

    @field_validator("base_url")
    @classmethod
    def _usable_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = url_problem(value.strip())
        if problem:
            raise ValueError(problem)
        return value.strip()

    @property
    def configured(self) -> bool:
        return key_is_set(self.api_key.get_secret_value() if self.api_key else None, self.enabled)


class BudgetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_hourly_usd: float | None = Field(default=None, gt=0)
    monthly_usd: float | None = Field(default=None, gt=0)
    warn_fraction: float = Field(default=0.8, gt=0, le=1)


def usable_webhook(value: SecretStr | None) -> SecretStr | None:
    """A webhook URL as read from the config: trimmed, checked as a URL (a bad one is a
    one-line config error, not a failed delivery later), and kept secret."""
    if value is None:
        return None
    problem = url_problem(value.get_secret_value().strip())
    if problem:
        raise ValueError(problem)
    return SecretStr(value.get_secret_value().strip())


class EventSettings(BaseModel):
    """`[events]`: where launch and instance events go (engine/events.py). The webhook
    URL often carries a token (a Slack incoming webhook's path is one): kept secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: SecretStr | None = Field(default=None, repr=False)
    command: str | None = None
    kinds: tuple[str, ...] = EVENT_KINDS

    @field_validator("webhook_url")
    @classmethod
    def _usable_webhook(cls, value: SecretStr | None) -> SecretStr | None:
        return usable_webhook(value)

    def webhook(self) -> str | None:
        return self.webhook_url.get_secret_value() if self.webhook_url else None

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in value if k not in EVENT_KINDS]
        if unknown:
            raise ValueError(f"unknown event kind {unknown[0]!r} (known: {', '.join(EVENT_KINDS)})")
        return value


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    refresh_interval: float = Field(default=DEFAULT_REFRESH_INTERVAL, ge=5, le=MAX_INTERVAL)
    demo_refresh_interval: float = Field(default=DEFAULT_DEMO_INTERVAL, ge=1, le=MAX_INTERVAL)
    theme: str | None = None
    log_level: str = "WARNING"
    budget: BudgetSettings = BudgetSettings()
    # where watches' alerts and snipes are posted; like `[events]`'s, it often carries a
    # token (a Slack incoming webhook's path is one): kept secret, and scrubbed
    webhook_url: SecretStr | None = Field(default=None, repr=False)
    watch_command: str | None = None
    events: EventSettings = EventSettings()
    # seconds to wait for a provider's answer (GPUCM_HTTP_TIMEOUT); slow proxies need more
    http_timeout: float = Field(default=30.0, gt=0, le=600)
    # the store: a file path, sqlite:///PATH or a team's postgresql:// URL (read by
    # gpucm/db_location.py; DATABASE_URL, GPUCM_DB and --db win). It may hold a
    # password: never shown, and scrubbed like the API keys.
    database_url: SecretStr | None = Field(default=None, repr=False)
    # gpucm-tui's [keymap] (binding id = keys); gpucm-tui checks it as it starts
    # (tui/keymap.py), where the binding ids are known
    keymap: dict[str, Any] = Field(default_factory=dict)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return parse_log_level(value)

    @field_validator("webhook_url")
    @classmethod
    def _usable_webhook(cls, value: SecretStr | None) -> SecretStr | None:
        return usable_webhook(value)

    def watch_webhook(self) -> str | None:
        return self.webhook_url.get_secret_value() if self.webhook_url else None

    def provider(self, name: str) -> ProviderSettings:
        return self.providers.get(name, ProviderSettings())

    def configured_providers(self) -> list[str]:
        return [p for p in PROVIDERS if self.provider(p).configured]

    def interval_for(self, name: str) -> float:
        return self.provider(name).refresh_interval or self.refresh_interval

    def secrets(self) -> list[str]:
        """Every secret value, for scrubbing text before it is shown or logged."""
        keys = [
            s.api_key.get_secret_value()
            for s in self.providers.values()
            if s.api_key and s.api_key.get_secret_value()
        ]
        keys += [h.get_secret_value() for h in (self.events.webhook_url, self.webhook_url) if h]
        return keys + database_passwords(self.database_url, os.environ.get("DATABASE_URL"))


def _read_file(path: Path) -> dict[str, Any]:
    return read_config(path)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_MAX_KEY_SHOWN = 40


def _show_key(key: object) -> str:
    """A key from the file as it would be written in TOML, for one-line messages: bare
    if it can be, else quoted with unprintable characters escaped, and cut short."""
    text = str(key)
    if _BARE_KEY.match(text):
        return text if len(text) <= _MAX_KEY_SHOWN else text[: _MAX_KEY_SHOWN - 1] + "…"
    if len(text) > _MAX_KEY_SHOWN:
        text = text[: _MAX_KEY_SHOWN - 1] + "…"
    shown = "".join(
        "\\" + ch if ch in '"\\' else ch if ch.isprintable() else repr(ch)[1:-1] for ch in text
    )
    return f'"{shown}"'


# settings the environment can give, as (where in Settings, variable)
_ENV_SETTINGS: tuple[tuple[tuple[str, ...], str], ...] = (
    *(
        (("providers", name, field), names[name])
        for name in PROVIDERS
        for field, names in (("api_key", KEY_ENV), ("base_url", URL_ENV))
    ),
    (("log_level",), "LOG_LEVEL"),
    (("http_timeout",), "GPUCM_HTTP_TIMEOUT"),
)


def _env_values(env: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """The settings the environment sets, by where they go: they win over the file, and
    a bad one is blamed on its variable, not on the file."""
    return {where: env[var] for where, var in _ENV_SETTINGS if env.get(var)}


def _variable(where: tuple[str, ...]) -> str | None:
    return next((var for loc, var in _ENV_SETTINGS if loc == where), None)


def warn_if_exposed(path: Path, data: Mapping[str, Any]) -> str | None:
    """A config file holding keys must not be readable by others."""
    providers = data.get("providers")
    holds_keys = isinstance(providers, dict) and any(
        isinstance(v, dict) and v.get("api_key") for v in providers.values()
    )
    if not holds_keys or os.name != "posix":
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"{path} holds API keys and is readable by other users; run: chmod 600 {path}"
    return None


def load_settings(
    env: Mapping[str, str] | None = None, config_path: Path | None = None
) -> Settings:
    env = os.environ if env is None else env
    path = config_path or paths.config_file()
    data = _read_file(path)
    warning = warn_if_exposed(path, data)
    if warning:
        log.warning(warning)
    raw_providers = data.pop("providers", {}) or {}
    if not isinstance(raw_providers, dict):
        raise ConfigError(f"{path}: [providers] must be a table")
    providers: dict[str, dict[str, Any]] = {}
    for key, value in raw_providers.items():
        name = canonical_provider(str(key))
        shown = _show_key(key)
        if name is None:
            known = ", ".join(PROVIDERS)
            raise ConfigError(f"{path}: unknown provider [providers.{shown}] (known: {known})")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: [providers.{shown}] must be a table")
        providers[name] = dict(value)
    from_env = _env_values(env)
    for where, value in from_env.items():
        if where[0] == "providers":
            providers.setdefault(where[1], {})[where[2]] = value
        else:
            data[where[0]] = value
    try:
        return Settings.model_validate({**data, "providers": providers})
    except ValidationError as exc:
        first = exc.errors()[0]  # never first["input"]: it may be a key
        loc = tuple(str(p) for p in first["loc"])
        message = _message(first["msg"])
        if loc in from_env:
            raise ConfigError(f"{_variable(loc)}: {message}") from None
        shown = ".".join(_show_key(p) for p in loc)
        raise ConfigError(f"{path}: {shown}: {message}") from None


def _message(text: str) -> str:
    # pydantic puts "Value error, " before what a validator raised
    return text.removeprefix("Value error, ")


def save_settings_value(path: Path, key: tuple[str, ...], value: Any) -> None:
    """Set one value in the config file, keeping the rest; written 0600 because the
    file may hold API keys."""
    data = _read_file(path)
    node = data
    for part in key[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{path}: {part} is not a table")
        node = child
    if value is None:
        node.pop(key[-1], None)
    else:
        node[key[-1]] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    import tomli_w  # only a command that saves a setting writes TOML

    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
    os.replace(tmp, path)


class SettingsSource:
    """Settings that follow the config file: a changed file is re-read (at most once per
    interval) so adding or removing a key takes effect at the next refresh."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        config_path: Path | None = None,
        *,
        min_check_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        initial: Settings | None = None,
    ) -> None:
        self._env = dict(os.environ if env is None else env)
        self._path = config_path or paths.config_file()
        self._interval = min_check_interval
        self._monotonic = monotonic
        self._checked = monotonic()
        self._stamp = self._file_stamp()
        self._settings = initial if initial is not None else load_settings(self._env, self._path)
        self.last_error: str | None = None

    @property
    def path(self) -> Path:
        return self._path

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def current(self) -> Settings:
        now = self._monotonic()
        if now - self._checked < self._interval:
            return self._settings
        self._checked = now
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._settings = load_settings(self._env, self._path)
                self.last_error = None
            except ConfigError as exc:
                # keep working with the last good settings; say what is wrong
                self.last_error = str(exc)
                log.warning("%s", exc)
        return self._settings
