"""Fixtures that run a directory's tests on both store backends: a conftest imports
them (tests/store, tests/engine, tests/api, the CLI's budget test). `db_path` is then
the test's store, a SQLite file or a fresh PostgreSQL schema (tests/conftest.py
`store_location`), and the services a test opens without naming a store (the demo
market) open it through DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_path(store_location: Path | str) -> Path | str:
    return store_location


@pytest.fixture(autouse=True)
def team_store_env(
    backend: str, store_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "postgresql":
        monkeypatch.setenv("DATABASE_URL", str(store_location))
