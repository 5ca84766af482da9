"""`gpucm serve`'s flags and settings: the original environment names, DATABASE_URL,
and the refusal to listen beyond loopback without a token."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gpucm.api.api_settings import ApiSettings, ApiSettingsError, is_loopback
from gpucm.cli.errors import Parser, UsageError
from gpucm.cli.serve import add_parser, cmd_serve, server_settings
from gpucm.database_url import DatabaseUrl
from gpucm.db_location import DatabaseLocationError, database_location, store_location
from gpucm.services import Services

TOKEN = "a-long-enough-token-123"


def parse(*argv: str) -> argparse.Namespace:
    parser = Parser(prog="gpucm")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    add_parser(sub)
    return parser.parse_args(["serve", *argv])


def test_defaults_are_the_original_ones() -> None:
    s = ApiSettings.from_env({})
    assert (s.host, s.port, s.environment, s.log_level) == (
        "127.0.0.1",
        8080,
        "development",
        "INFO",
    )
    assert (s.enable_metrics, s.enable_cors, s.rate_limit_enabled, s.rate_limit_rpm) == (
        True,
        False,
        True,
        100,
    )
    assert s.token is None and s.loopback


def test_the_original_environment_names() -> None:
    s = ApiSettings.from_env(
        {
            "PORT": "9090",
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "debug",
            "ENABLE_METRICS": "false",
            "ENABLE_CORS": "yes",
            "CORS_ORIGINS": "https://a.example, https://b.example",
            "RATE_LIMIT_ENABLED": "0",
            "RATE_LIMIT_RPM": "250",
            "GPUCM_API_TOKEN": TOKEN,
            "GPUCM_MAX_BODY_BYTES": "4096",
        }
    )
    assert (s.port, s.environment, s.log_level) == (9090, "production", "DEBUG")
    assert not s.enable_metrics and s.enable_cors and not s.rate_limit_enabled
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.rate_limit_rpm == 250 and s.token == TOKEN and s.max_body_bytes == 4096
    assert TOKEN not in repr(s)
    # flags win over the environment
    assert ApiSettings.from_env({"PORT": "9090"}, port=7000).port == 7000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "PORT: Input should be a valid integer"),
        ({"PORT": "70000"}, "PORT: Input should be less than or equal to 65535"),
        ({"RATE_LIMIT_RPM": "0"}, "RATE_LIMIT_RPM: Input should be greater than or equal to 1"),
        ({"ENABLE_CORS": "maybe"}, "ENABLE_CORS: expected true or false"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL: expected one of DEBUG, INFO"),
        ({"GPUCM_API_TOKEN": "short-secret"}, "GPUCM_API_TOKEN: must be at least 16"),
    ],
)
def test_bad_settings_say_which_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ApiSettingsError) as caught:
        ApiSettings.from_env(env)
    assert str(caught.value).startswith(message)
    assert "short-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("sqlite:///gpucm.db", Path("gpucm.db")),
        ("sqlite:////var/lib/gpucm/api.db", Path("/var/lib/gpucm/api.db")),
        ("sqlite:///data/x.db?mode=rwc", Path("data/x.db")),
        ("/tmp/plain.db", Path("/tmp/plain.db")),
        ("team@jumpbox.db", Path("team@jumpbox.db")),
        ("C:/data/gpucm.db", Path("C:/data/gpucm.db")),
    ],
)
def test_database_url_takes_sqlite_paths(text: str, path: Path) -> None:
    assert database_location(text) == path


def test_database_url_takes_postgresql_and_refuses_others_without_the_password() -> None:
    team = database_location("postgresql://admin:hunter2@db.internal/gpucm")
    assert isinstance(team, DatabaseUrl)
    assert str(team) == repr(team).split("'")[1] == "postgresql://admin:***@db.internal/gpucm"
    assert "hunter2" in team.dsn  # for the driver only
    with pytest.raises(DatabaseLocationError) as caught:
        database_location("postgresql://admin:hunter2@db.internal")
    assert "names no database" in str(caught.value) and "hunter2" not in str(caught.value)
    with pytest.raises(DatabaseLocationError) as caught:
        database_location("mysql://admin:hunter2@db.internal/gpucm")
    assert "not mysql:// URLs" in str(caught.value) and "hunter2" not in str(caught.value)
    with pytest.raises(DatabaseLocationError, match="a database file is needed"):
        database_location("sqlite:///:memory:")


@pytest.mark.parametrize(
    "text",
    [
        "postgresql:/admin:hunter2@db.internal/gpucm",
        "postgres:admin:hunter2@db.internal:5432/gpucm",
        "POSTGRESQL:9/admin:hunter2@127.0.0.1:5432/gpucm",
        "sqlite:gpucm.db",
        "mysql:admin:hunter2@db.internal/gpucm",
    ],
)
def test_a_url_missing_its_slashes_is_refused_not_made_a_file(text: str) -> None:
    # read as a path, it became a SQLite file whose name held the password
    with pytest.raises(DatabaseLocationError, match="without // after its scheme") as caught:
        database_location(text, source="DATABASE_URL")
    assert "hunter2" not in str(caught.value)
    assert str(caught.value).startswith("DATABASE_URL: ")


def test_the_flags_and_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    ns = parse()
    assert (ns.host, ns.port, ns.db, ns.demo) == (None, None, None, None)
    assert server_settings(ns).host == "127.0.0.1"  # the default lives in ApiSettings
    ns = parse("--host", "::1", "--port", "0", "--demo")
    assert (ns.host, ns.port, ns.db, ns.demo) == ("::1", 0, None, True)
    monkeypatch.setenv("DATABASE_URL", "sqlite:////srv/gpucm.db")
    assert parse().db == Path("/srv/gpucm.db")
    assert parse("--db", "other.db").db == Path("other.db")
    # every other command reads it too, where they all decide (gpucm/db_location.py)
    env = {"DATABASE_URL": "sqlite:////srv/gpucm.db"}
    assert store_location(None, demo=False, env=env) == Path("/srv/gpucm.db")
    team = store_location(None, demo=False, env={"DATABASE_URL": "postgres://u:pw@h/db"})
    assert isinstance(team, DatabaseUrl) and str(team) == "postgres://u:***@h/db"
    monkeypatch.setenv("DATABASE_URL", "mysql://u:pw@h/db")
    with pytest.raises(DatabaseLocationError, match="--db/DATABASE_URL: only SQLite") as caught:
        parse()
    assert "pw@" not in str(caught.value)
    with pytest.raises(UsageError, match="expected a port"):
        parse("--db", "x.db", "--port", "99999")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("gpu-box.lan", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_another_address_needs_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPUCM_API_TOKEN", raising=False)
    with pytest.raises(UsageError) as caught:
        server_settings(parse("--host", "0.0.0.0"))
    message = str(caught.value)
    assert message.startswith("gpucm serve: refusing to listen on 0.0.0.0")
    assert "GPUCM_API_TOKEN" in message and "\n" not in message
    monkeypatch.setenv("GPUCM_API_TOKEN", TOKEN)
    settings = server_settings(parse("--host", "0.0.0.0"))
    assert settings.token == TOKEN and not settings.loopback


async def test_cmd_serve_refuses_before_starting_anything(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GPUCM_API_TOKEN", raising=False)
    with pytest.raises(UsageError, match=re.escape("refusing to listen on 192.168.1.5")):
        await cmd_serve(parse("--host", "192.168.1.5"), services)


def test_the_refusal_from_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GPUCM_API_TOKEN"}
    env["GPUCM_HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "gpucm.cli.serve", "--demo", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpucm serve: refusing to listen on 0.0.0.0")
    assert proc.stdout == ""


def python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GPUCM_HOME": str(tmp_path)}
    env.pop("GPUCM_API_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_cli_does_not_load_the_server_until_it_serves(tmp_path: Path) -> None:
    proc = python(
        "import sys, gpucm.cli.serve; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_without_the_api_extra_it_says_what_to_install(tmp_path: Path) -> None:
    proc = python(
        "import sys; sys.modules['fastapi'] = None; "
        "from gpucm.cli.serve import main; sys.exit(main(['--demo']))",
        tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "gpucm serve needs the api extra (missing fastapi): pip install 'gpucm[api]'"
    )
