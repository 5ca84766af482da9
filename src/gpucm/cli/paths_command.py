"""`gpucm paths`: every file and directory gpucm uses, as this command would resolve
them (GPUCM_HOME, GPUCM_DB, --db, demo or not). Answers without opening the store or
loading the settings, so it works when either is broken: that is when it is needed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from gpucm import logs, paths
from gpucm.config_file import ConfigError, configured_providers, read_config
from gpucm.db_location import store_location


def locations(ns: argparse.Namespace) -> dict[str, Any]:
    env = os.environ
    config_file = paths.config_file()
    problems: list[str] = []
    try:
        config = read_config(config_file)
    except ConfigError as exc:
        config = {}
        problems.append(str(exc))
    demo = ns.demo if ns.demo is not None else not configured_providers(env, config)
    database, source = _database(ns, env, config, problems, demo=demo)
    return {
        "config_file": str(config_file),
        "config_file_exists": config_file.is_file(),
        "config_dir": str(paths.config_dir()),
        "data_dir": str(paths.data_dir()),
        "cache_dir": str(paths.cache_dir()),
        "log_dir": str(paths.log_dir()),
        "tui_log_file": str(paths.log_dir() / logs.TUI_LOG_NAME),
        "database": database,
        "database_from": source,
        "demo": demo,
        "filters_file": str(paths.presets_file()),
        "catalog_file": str(paths.user_catalog_file()),
        "themes_dir": str(paths.user_themes_dir()),
        "problems": problems,
    }


def _database(
    ns: argparse.Namespace,
    env: Mapping[str, str],
    config: Mapping[str, Any],
    problems: list[str],
    *,
    demo: bool,
) -> tuple[str, str]:
    """The store every command would open (the one rule in gpucm/db_location.py),
    masked, and where that came from."""
    if ns.db is not None:
        source = "--db"
    else:
        named = [n for n in ("DATABASE_URL", "GPUCM_DB") if env.get(n)]
        source = named[0] if named else "database_url in config.toml"
        if not named and config.get("database_url") is None:
            source = "default"
    try:
        location = store_location(ns.db, demo=demo, env=env, config=config)
    except ConfigError as exc:  # a location gpucm cannot use: shown, masked
        problems.append(str(exc))
        raw = str(ns.db) if ns.db is not None else env.get(source, "")
        return logs.mask_password(raw), source
    # a DatabaseUrl prints with its password masked
    return str(location), source


def cmd_paths(ns: argparse.Namespace) -> int:
    found = locations(ns)
    if ns.json:
        json.dump(found, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    rows = [
        (
            "config file",
            found["config_file"] + ("" if found["config_file_exists"] else " (none yet)"),
        ),
        ("data dir", found["data_dir"]),
        ("cache dir", found["cache_dir"]),
        ("log dir", found["log_dir"]),
        ("TUI log file", found["tui_log_file"]),
        ("database", found["database"] + _database_note(found)),
        ("saved filters", found["filters_file"]),
        ("GPU catalog", found["catalog_file"]),
        ("themes", found["themes_dir"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for problem in found["problems"]:
        print(f"gpucm: {problem}", file=sys.stderr)
    return 0


def _database_note(found: Mapping[str, Any]) -> str:
    if found["database_from"] != "default":
        return f" ({found['database_from']})"
    return " (demo market)" if found["demo"] else ""
