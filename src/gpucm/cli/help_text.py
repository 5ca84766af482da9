"""The end of `gpucm --help` and `gpucm-tui --help`: the config file, the environment
variables and the exit codes, as terminal tools put them (light: built for every
command, before anything heavy loads)."""

from __future__ import annotations

import shutil
import textwrap

from gpucm import logs, paths
from gpucm.domain.provider_names import KEY_ENV, URL_ENV

_INDENT = 22
_WIDEST = 88  # wider lines are hard to read, however wide the terminal


def width() -> int:
    """The width argparse wraps its own help to (the terminal's, less two columns),
    so the raw-formatted parts line up with it and never wrap mid-word at 80."""
    return max(40, min(_WIDEST, shutil.get_terminal_size().columns - 2))


def wrap(text: str) -> str:
    """A paragraph for a raw-formatted description."""
    return textwrap.fill(text, width())


def _rows(rows: list[tuple[str, str]]) -> str:
    lines = []
    for name, text in rows:
        body = textwrap.wrap(
            text, width() - _INDENT, break_long_words=False, break_on_hyphens=False
        ) or [""]
        if len(name) > _INDENT - 4:  # at least two spaces before the text
            lines.append(f"  {name}")
            lines.extend(" " * _INDENT + line for line in body)
            continue
        lines.append(f"  {name:<{_INDENT - 2}}{body[0]}")
        lines.extend(" " * _INDENT + line for line in body[1:])
    return "\n".join(lines)


def _environment(extra: list[tuple[str, str]]) -> str:
    keys = " ".join(KEY_ENV.values())
    urls = " ".join(URL_ENV.values())
    return _rows(
        [
            (keys, "provider API keys; they win over [providers.NAME] api_key in the file"),
            (urls, "provider API base URLs (a proxy, a mirror)"),
            ("GPUCM_HOME", "one directory for the config, data, cache and logs"),
            (
                "DATABASE_URL",
                "the database: a team's postgresql://USER:PASSWORD@HOST/DB, or a file or "
                "sqlite:///PATH (--db wins; never shown unmasked)",
            ),
            ("GPUCM_DB", "the database, as DATABASE_URL, which wins over it"),
            ("GPUCM_HTTP_TIMEOUT", "seconds to wait for a provider's answer (default 30)"),
            (
                "LOG_LEVEL",
                "DEBUG, INFO, WARNING (the default), ERROR or CRITICAL; wins over log_level "
                "in the config file; --debug wins over both",
            ),
            *extra,
        ]
    )


def _files(extra: list[tuple[str, str]]) -> str:
    return _rows(
        [
            (
                "config file",
                f"{paths.config_file()} (TOML: [providers.NAME] api_key, refresh_interval, "
                "[budget], theme, log_level, ...)",
            ),
            *extra,
            ("gpucm paths", "prints every file and directory gpucm uses (--json for scripts)"),
        ]
    )


def exit_codes() -> str:
    return _rows(
        [
            ("0", "done"),
            (
                "1",
                "refused or failed, and said why in one line: a provider failed, the database "
                "cannot be read or written, a launch was refused or cancelled",
            ),
            (
                "2",
                "bad input: an argument, the config file or the environment (the line says which)",
            ),
            ("130", "interrupted (Ctrl-C)"),
        ]
    )


def cli_epilog() -> str:
    return "\n\n".join(
        [
            "files:\n" + _files([]),
            "environment:\n"
            + _environment(
                [("(gpucm serve --help)", "the REST server's own: PORT, GPUCM_API_TOKEN, ...")]
            ),
            "exit status:\n" + exit_codes(),
            "completion:\n"
            + _rows(
                [("gpucm completion bash", "e.g. source <(gpucm completion bash); also zsh, fish")]
            ),
        ]
    )


def rotation() -> str:
    size = logs.LOG_FILE_BYTES // (1024 * 1024)
    return f"rotated at {size} MiB, {logs.LOG_FILE_BACKUPS} old files kept (.1 the newest)"


def tui_epilog() -> str:
    log_file = paths.log_dir() / logs.TUI_LOG_NAME
    return "\n\n".join(
        [
            "files:\n"
            + _files(
                [
                    (
                        "log file",
                        f"{log_file} (--log-file moves it); {rotation()}",
                    )
                ]
            ),
            "environment:\n"
            + _environment(
                [
                    (
                        "GPUCM_API_TOKEN",
                        "with --serve: needed for a --host beyond this machine, then asked "
                        "of every browser (at least 16 characters)",
                    ),
                    ("GPUCM_ALLOWED_HOSTS", "with --serve: Host names served beside loopback's"),
                ]
            ),
            "exit status:\n" + exit_codes(),
        ]
    )
