"""`gpucm paths`: every file and directory gpucm uses, as this command would resolve
them (GPUCM_HOME, GPUCM_DB, --db, demo or not). Answers without opening the store or
loading the settings, so it works when either is broken: that is when it is needed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from gpucm import logs, paths
from gpucm.config_file import ConfigError, configured_providers, read_config


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
    if ns.db is not None:
        database = str(ns.db)
    else:
        try:
            database = str(paths.default_db_path(demo=demo))
        except ConfigError as exc:  # a GPUCM_DB gpucm cannot use: shown, masked
            database = env.get("GPUCM_DB", "")
            problems.append(str(exc))
    server_url = env.get("DATABASE_URL", "").strip()
    return {
        "config_file": str(config_file),
        "config_file_exists": config_file.is_file(),
        "config_dir": str(paths.config_dir()),
        "data_dir": str(paths.data_dir()),
        "cache_dir": str(paths.cache_dir()),
        "log_dir": str(paths.log_dir()),
        "tui_log_file": str(paths.log_dir() / logs.TUI_LOG_NAME),
        "database": logs.mask_password(database),
        "demo": demo,
        # `gpucm serve`'s default database, where it differs from the CLI's
        "serve_database_url": logs.mask_password(server_url) if server_url else None,
        "filters_file": str(paths.presets_file()),
        "catalog_file": str(paths.user_catalog_file()),
        "themes_dir": str(paths.user_themes_dir()),
        "problems": problems,
    }


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
        ("database", found["database"] + (" (demo market)" if found["demo"] else "")),
    ]
    if found["serve_database_url"]:
        rows.append(("gpucm serve's database", found["serve_database_url"] + " (DATABASE_URL)"))
    rows += [
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
