"""Where gpucm's log lines go, at which level, and what they never say.

One rule for `gpucm`, `gpucm-tui` and `gpucm serve`: `--debug` wins, then LOG_LEVEL,
then `log_level` in config.toml, then the front end's default. The CLI logs to stderr
(stdout carries data for scripts); gpucm-tui owns the terminal, so it logs to a file
that rotates. Every line is scrubbed of the secrets this process can know of (provider
keys, the API token, a database password) before it is written.

Standard library only, and light: the CLI sets logging up before pydantic, the store
or the providers have loaded.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from gpucm.config_file import ConfigError, parse_log_level
from gpucm.domain.provider_names import KEY_ENV

# The TUI's log file: rotated at this size, with this many old files kept beside it
# (gpucm-tui.log.1 ... .3), so a long-running session on a jump box cannot fill a disk.
LOG_FILE_BYTES = 1024 * 1024
LOG_FILE_BACKUPS = 3
TUI_LOG_NAME = "gpucm-tui.log"

STDERR_FORMAT = "gpucm: %(levelname)s: %(message)s"
FILE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

# Libraries whose DEBUG is one line per SQL statement, socket step or parsed token:
# at DEBUG they drowned gpucm's own lines (a refresh wrote thousands of aiosqlite
# "executing" lines). They say what matters at INFO and above.
QUIET_LOGGERS: dict[str, int] = {
    "asyncio": logging.INFO,  # "Using selector: EpollSelector" at every start
    "aiosqlite": logging.INFO,
    "asyncpg": logging.INFO,
    "httpcore": logging.INFO,
    "hpack": logging.INFO,
    "markdown_it": logging.INFO,
    "aiohttp.access": logging.INFO,
    # httpx logs every request URL at INFO, and some providers take the key in the query
    "httpx": logging.WARNING,
}

REDACTED = "***"
_MIN_SECRET = 4  # shorter "secrets" would blank ordinary words
# a password in a URL (scheme://user:PASSWORD@host) or a key=value string (password=X)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s/]*)(?=@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>\b(?:password|passwd|pwd)=)(?P<pw>[^&\s;]+)", re.I)


def level_from(
    env: Mapping[str, str],
    config: Mapping[str, Any],
    *,
    debug: bool = False,
    default: str = "WARNING",
) -> str:
    """The level to log at. A bad LOG_LEVEL is refused (ConfigError naming it); a bad
    `log_level` in the file is left to the settings loader, which names the file."""
    if debug:
        return "DEBUG"
    text = env.get("LOG_LEVEL", "").strip()
    if text:
        try:
            return parse_log_level(text)
        except ValueError as exc:
            raise ConfigError(f"LOG_LEVEL: {exc}") from None
    value = config.get("log_level")
    if isinstance(value, str):
        try:
            return parse_log_level(value)
        except ValueError:
            pass
    return default


def secrets_from(env: Mapping[str, str], config: Mapping[str, Any]) -> list[str]:
    """Every secret value this process may hold: provider keys from the environment
    and the config file, the API token, and database passwords."""
    found = [env.get(var, "") for var in KEY_ENV.values()]
    found.append(env.get("GPUCM_API_TOKEN", ""))
    providers = config.get("providers")
    if isinstance(providers, dict):
        for table in providers.values():
            key = table.get("api_key") if isinstance(table, dict) else None
            if isinstance(key, str):
                found.append(key)
    for var in ("DATABASE_URL", "GPUCM_DB", "PGPASSWORD"):
        value = env.get(var, "")
        found.append(value if var == "PGPASSWORD" else _password_in(value))
    return [s.strip() for s in found if len(s.strip()) >= _MIN_SECRET]


def _password_in(text: str) -> str:
    match = _URL_PASSWORD.search(text) or _KV_PASSWORD.search(text)
    return match.group("pw") if match else ""


def mask_password(text: str) -> str:
    """`text` (a database URL or DSN) with any password in it replaced: safe to print."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)
    return _KV_PASSWORD.sub(lambda m: m.group("head") + REDACTED, text)


def redact(text: str, secrets: Iterable[str]) -> str:
    # longest first, so a secret that contains a shorter one is replaced whole
    for secret in sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return mask_password(text)


class RedactingFormatter(logging.Formatter):
    """Formats a record (message, arguments and traceback), then removes every secret
    from the whole line."""

    def __init__(self, fmt: str, secrets: Callable[[], Iterable[str]]) -> None:
        super().__init__(fmt)
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets())


class PoolRetriesOnce(logging.Filter):
    """asyncpg's pool tries to reopen its one idle connection while a team's server is
    away, and logs a warning with a whole traceback at every try (after 1, 2, 4 ... 60
    s): one line per outage is enough (the team's own reconnection says when it is
    back, store/pg/team.py). The first try's line is kept, without its traceback;
    the next ones are dropped until QUIET_SECONDS pass without one."""

    QUIET_SECONDS = 600.0

    def __init__(self) -> None:
        super().__init__()
        self._last: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "asyncpg.pool" or not record.getMessage().startswith(
            "Failed to restore the pool connection floor"
        ):
            return True
        last, self._last = self._last, record.created
        if last is not None and record.created - last < self.QUIET_SECONDS:
            return False
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


class LogFileError(ConfigError):
    """A log file that cannot be opened; the message names it."""


def rotating_file(path: Path) -> logging.Handler:
    """A handler appending to `path`, rotated at LOG_FILE_BYTES (LOG_FILE_BACKUPS kept)."""
    import logging.handlers  # sockets, pickle, queues: not for `gpucm --help`

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        raise LogFileError(f"cannot write the log file {path}: {exc.strerror}") from None


def configure(
    level: str,
    *,
    secrets: Iterable[str],
    log_file: Path | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log line to `log_file` (rotated) or else `stream` (stderr), at
    `level`, scrubbed of `secrets`; the chatty libraries stay at INFO or above."""
    known = list(secrets)
    handler: logging.Handler
    if log_file is not None:
        handler = rotating_file(log_file)
        handler.setFormatter(RedactingFormatter(FILE_FORMAT, lambda: known))
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(RedactingFormatter(STDERR_FORMAT, lambda: known))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    handler.addFilter(PoolRetriesOnce())
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in QUIET_LOGGERS.items():
        # raised, never lowered: at WARNING, aiohttp's access lines stay off too
        logging.getLogger(name).setLevel(max(quiet, root.level))
    return handler
