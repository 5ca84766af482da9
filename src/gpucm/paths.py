"""Where gpucm keeps its files. Functions, never module constants: GPUCM_HOME is read
at call time so tests (and users) can move every directory at once."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

APP_NAME = "gpucm"


def _platform() -> ModuleType:
    # platformdirs brings tempfile, random and shutil: ~10 ms that `gpucm --help` and a
    # GPUCM_HOME user never need
    import platformdirs

    return platformdirs


def _home() -> Path | None:
    value = os.environ.get("GPUCM_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else _platform().user_config_path(APP_NAME)


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else _platform().user_data_path(APP_NAME)


def cache_dir() -> Path:
    home = _home()
    return home / "cache" if home else _platform().user_cache_path(APP_NAME)


def log_dir() -> Path:
    home = _home()
    return home / "logs" if home else _platform().user_log_path(APP_NAME)


def config_file() -> Path:
    return config_dir() / "config.toml"


def user_catalog_file() -> Path:
    return config_dir() / "gpu_catalog.toml"


def catalog_cache_file() -> Path:
    """The packaged GPU catalog as parsed (domain/catalog.py), kept between starts."""
    return cache_dir() / "gpu_catalog.json"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def presets_file() -> Path:
    return config_dir() / "filters.toml"


def data_db_path(*, demo: bool) -> Path:
    """The data dir's database, where the store is when nothing else says
    (gpucm/db_location.py reads --db, DATABASE_URL, GPUCM_DB and the config file). The
    demo market lives in its own, so simulated offers can never mix with a real
    provider's data once a key is configured."""
    return data_dir() / ("demo.db" if demo else "gpucm.db")


default_db_path = data_db_path
