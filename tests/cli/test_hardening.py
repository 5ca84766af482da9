"""Bad input on the command line, as a hostile user tries it: one line and a clean exit,
never a traceback, a hang or a stray file (issue 14's cases, run as it writes them)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gpucm.cli.main import main
from tests.conftest import make_read_only, writable_again

BYTE_FF = "\udcff"  # what Python makes of the byte 0xff in an argument (surrogateescape)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The one line a refused command says (exit 2)."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    return one_line(err)


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith("DEMO market")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def offer_ids(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    code, out, err = run(capsys, "offers", *argv, "--json")
    assert code == 0, err
    return [o["id"] for o in json.loads(out)]


# -- long value lists ------------------------------------------------------------------


def test_long_value_lists_search_like_short_ones(capsys: pytest.CaptureFixture[str]) -> None:
    europe = offer_ids(capsys, "--region", "Europe")
    assert europe
    filler = ",".join(str(n) for n in range(1, 601))
    assert offer_ids(capsys, "--query", f"region={filler},Europe") == europe
    flags = [a for n in range(600) for a in ("--region", f"r{n}")]
    assert offer_ids(capsys, *flags, "--region", "Europe") == europe
    h100 = offer_ids(capsys, "--gpu-model", "H100")
    models = ",".join(str(n) for n in range(1, 1201))
    assert offer_ids(capsys, "--query", f"gpu={models},H100") == h100


# -- text that is not UTF-8 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["offers", "--gpu-model", BYTE_FF], "gpucm offers: --gpu-model:"),
        (["offers", "--query", f"gpu={BYTE_FF}"], "gpucm offers: --query:"),
        (["offers", "--region", BYTE_FF], "gpucm offers: --region:"),
        (["history", "--gpu-model", BYTE_FF], "gpucm history: --gpu-model:"),
        (["instances", "launch", "--offer", BYTE_FF, "--yes"], "gpucm instances launch: --offer:"),
        (
            ["instances", "launch", "--offer", "vast_ai:1", "--label", f"a{BYTE_FF}", "--yes"],
            "gpucm instances launch: --label:",
        ),
        (["filters", "save", "x", f"gpu={BYTE_FF}"], "gpucm filters save: QUERY:"),
        (["offers", "--db", f"{BYTE_FF}.db"], "gpucm offers: --db:"),
    ],
)
def test_an_argument_that_is_not_utf8_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], isolated_home: Path, argv: list[str], named: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    line = one_line(err)
    assert line.startswith(f"{named} not valid UTF-8 (byte 0xff"), line
    # refused before anything was read or written: no store, no filters file, no .tmp
    config = isolated_home / "config"
    assert not (isolated_home / "data").exists()
    assert not config.exists() or not any(config.iterdir())


def test_real_non_utf8_bytes_in_argv(tmp_path: Path) -> None:
    """The bytes as a shell passes them, through a real process."""
    env = {**os.environ, "GPUCM_HOME": str(tmp_path)}
    argv = [
        sys.executable.encode(),
        b"-m",
        b"gpucm.cli.main",
        b"filters",
        b"save",
        b"x",
        b"gpu=\xff",
    ]
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == (
        "gpucm filters save: QUERY: not valid UTF-8 (byte 0xff at character 5)"
    )
    assert not list(tmp_path.rglob("filters*"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"provider": "vast_ai", "offer_id": "1", "label": "\\ud800"}', "label: not valid text"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
    ids=["lone surrogate", "5000 deep"],
)
def test_from_json_with_lone_surrogates_or_deep_nesting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "create.json"
    path.write_text(body)
    assert message in refused(capsys, "instances", "launch", "--from-json", str(path), "--yes")


def test_history_since_far_too_long(capsys: pytest.CaptureFixture[str]) -> None:
    assert "at most 36500d" in refused(
        capsys, "history", "--gpu-model", "RTX 4090", "--since", "99999999999d"
    )


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize("url", ["::::", "http://[::1", "ftp://x", "http://host:99999"])
def test_a_bad_provider_url_in_the_environment_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("VAST_AI_API_KEY", "k" * 20)
    monkeypatch.setenv("VAST_AI_API_URL", url)
    line = refused(capsys, "refresh")
    assert line.startswith("gpucm: VAST_AI_API_URL: "), line
    assert "k" * 20 not in line


def test_a_bad_provider_url_in_the_config_file_names_the_key(
    capsys: pytest.CaptureFixture[str], isolated_home: Path
) -> None:
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[providers.runpod]\napi_key = "secret-key-123"\nbase_url = "http://[::1"\n')
    config.chmod(0o600)
    line = refused(capsys, "models")
    assert f"{config}: providers.runpod.base_url: not a URL" in line
    assert "secret-key-123" not in line


def test_http_timeout_blames_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPUCM_HTTP_TIMEOUT", "abc")
    line = refused(capsys, "models")
    assert line.startswith("gpucm: GPUCM_HTTP_TIMEOUT: "), line
    assert "config.toml" not in line


def test_an_unknown_log_level_is_refused_as_serve_refuses_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    assert refused(capsys, "models") == (
        "gpucm: LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )
    monkeypatch.setenv("LOG_LEVEL", "error")  # any case, as serve takes it
    assert run(capsys, "models", "--json")[0] == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'[filters]\nx = "\xff"\n', "is not UTF-8 text"),
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    ],
    ids=["not UTF-8", "5000 deep"],
)
def test_a_broken_filters_file_is_one_line(
    capsys: pytest.CaptureFixture[str], isolated_home: Path, content: bytes, message: str
) -> None:
    path = isolated_home / "config" / "filters.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    for argv in (["filters", "list"], ["offers", "--preset", "x"]):
        code, _, err = run(capsys, *argv)
        assert code == 2, err
        assert message in one_line(err) and str(path) in err


def test_a_config_file_nested_thousands_deep_is_one_line(
    capsys: pytest.CaptureFixture[str], isolated_home: Path
) -> None:
    path = isolated_home / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert refused(capsys, "models") == f"gpucm: {path} is not valid TOML: nested too deeply"


def test_an_invalid_catalog_file_says_so_once(
    capsys: pytest.CaptureFixture[str], isolated_home: Path
) -> None:
    path = isolated_home / "config" / "gpu_catalog.toml"
    path.parent.mkdir(parents=True)
    path.write_text("garbage [[[\n")
    code, out, err = run(capsys, "offers", "--limit", "2", "--json")
    assert code == 0 and len(json.loads(out)) == 2  # the built-in catalog serves
    warnings = [line for line in err.splitlines() if "gpu_catalog.toml" in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith(f"gpucm: WARNING: {path}: invalid TOML")
    assert warnings[0].endswith("using the built-in catalog until it is fixed")


# -- where the database is -------------------------------------------------------------


def test_db_takes_serves_url_forms_and_makes_no_url_folders(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    isolated_home: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "offers", "--db", "sqlite:///x.db", "--limit", "1", "--json")
    assert code == 0, err
    assert (tmp_path / "x.db").is_file()
    code, _, err = run(capsys, "offers", "--db", f"sqlite:///{tmp_path}/y.db", "--json")
    assert code == 0 and (tmp_path / "y.db").is_file()
    # a team's PostgreSQL store that nothing answers: one line, masked, no folder
    for url in (
        "postgresql://u:hunter2@127.0.0.1:9/gpucm",
        "postgres://u:hunter2@127.0.0.1:9/gpucm",
    ):
        code, _, err = run(capsys, "offers", "--db", url)
        assert code == 1
        scheme = url.split(":", 1)[0]
        assert one_line(err) == (
            f"gpucm: cannot connect to the PostgreSQL store {scheme}://u:***@127.0.0.1:9/gpucm:"
            " connection refused (is the server running, on that host and port?)"
        )
    # GPUCM_HOME may hold gpucm's own (the parsed catalog in its cache dir); no other
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and p != isolated_home) == []


def test_gpucm_db_pointing_at_a_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPUCM_DB", str(tmp_path))
    assert (
        refused(capsys, "offers")
        == f"gpucm: GPUCM_DB: {tmp_path} is a directory; give a database file"
    )


def test_the_tui_takes_the_same_db_forms(tmp_path: Path) -> None:
    """In a process of its own: before, it started the app on a folder "postgresql:"."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from gpucm.cli.main import tui_main; sys.exit(tui_main(sys.argv[1:]))",
            "--db",
            "postgresql://u:hunter2@127.0.0.1:9/gpucm",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "GPUCM_HOME": str(tmp_path / "home")},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "gpucm-tui: cannot connect to the PostgreSQL store postgresql://u:***@127.0.0.1:9/gpucm:"
        " connection refused (is the server running, on that host and port?)"
    )
    assert "hunter2" not in proc.stderr
    assert not (tmp_path / "postgresql:").exists()


@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (["offers", "--bogus"], "gpucm offers"),
        (["instances", "launch", "--yes", "--bogus"], "gpucm instances launch"),
        (["filters", "list", "--bogus"], "gpucm filters list"),
        (["--debug", "spend", "--bogus"], "gpucm spend"),
    ],
)
def test_an_unknown_flag_points_at_its_commands_help(
    capsys: pytest.CaptureFixture[str], argv: list[str], prog: str
) -> None:
    """It said "see gpucm --help", which lists commands, not the flags of this one."""
    line = refused(capsys, *argv)
    assert line == f"{prog}: unrecognized arguments: --bogus (see {prog} --help)"


# -- a damaged or read-only database ---------------------------------------------------


def filled_db(capsys: pytest.CaptureFixture[str], path: Path) -> Path:
    assert run(capsys, "refresh", "--db", str(path))[0] == 0
    return path


def test_a_read_only_database_reads_and_refuses_writes_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = filled_db(capsys, tmp_path / "ro.db")
    make_read_only(db)
    try:
        code, out, err = run(capsys, "offers", "--db", str(db), "--limit", "3", "--json")
        assert code == 0 and len(json.loads(out)) == 3, err
        code, out, _ = run(capsys, "stats", "--db", str(db), "--json")
        assert code == 0 and json.loads(out)["total_instances"] > 0
        for argv in (["refresh"], ["instances", "list"]):
            code, _, err = run(capsys, *argv, "--db", str(db))
            assert code == 1
            assert one_line(err).startswith(f"gpucm: the database {db} is read-only")
    finally:
        writable_again(db)


def test_a_read_only_database_in_a_real_process_exits(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """It printed a traceback, then hung until killed (the store's threads stayed)."""
    db = filled_db(capsys, tmp_path / "ro.db")
    make_read_only(db)
    try:
        env = {**os.environ, "GPUCM_HOME": str(tmp_path / "home")}
        for argv in (["refresh"], ["serve", "--port", "0"]):
            proc = subprocess.run(
                [sys.executable, "-m", "gpucm.cli.main", *argv, "--db", str(db)],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            assert proc.returncode == 1, proc.stderr
            assert "read-only" in one_line(proc.stderr)
    finally:
        writable_again(db)


def damage(path: Path, how: str) -> None:
    if how == "random bytes":
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.seek(size // 2)
            fh.write(os.urandom(4096 * 8))
        return
    if how == "not a database":  # its header overwritten: SQLite refuses it at opening
        with path.open("r+b") as fh:
            fh.write(b"not a database, " * 8)
        return
    conn = sqlite3.connect(path)
    if how == "dropped table":
        conn.execute("DROP TABLE offers")
    else:
        conn.execute("UPDATE offers SET price_per_hour = 'abc' WHERE rowid % 7 = 0")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "how", ["random bytes", "not a database", "dropped table", "non-numeric prices"]
)
def test_a_damaged_database_is_one_line_with_the_doctor_hint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, how: str
) -> None:
    db = filled_db(capsys, tmp_path / "gpucm.db")
    damage(db, how)
    for argv in (["offers", "--all", "--json"], ["stats"]):
        code, _, err = run(capsys, *argv, "--db", str(db))
        assert code == 1, err
        line = one_line(err)
        assert line.startswith(f"gpucm: the database {db} "), line
        assert line.endswith("run `gpucm doctor` to check it (and set it aside for a fresh one)")


@pytest.mark.parametrize(
    "how", ["random bytes", "not a database", "dropped table", "non-numeric prices"]
)
def test_doctor_finds_the_damage_and_sets_the_file_aside(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, how: str
) -> None:
    db = filled_db(capsys, tmp_path / "gpucm.db")
    damage(db, how)
    original = db.read_bytes()
    code, out, err = run(capsys, "doctor", "--db", str(db))
    assert code == 1  # damaged, and without a terminal nothing is moved without --yes
    assert "FAIL" in out and "Nothing was changed" in err
    assert db.read_bytes() == original

    code, out, _ = run(capsys, "doctor", "--db", str(db), "--yes")
    assert code == 0
    kept = Path(out.split("Moved the old database to ", 1)[1].split(" (kept", 1)[0])
    assert kept.parent == tmp_path and kept.name.startswith("gpucm.db.broken-")
    assert kept.read_bytes() == original  # kept whole
    code, out, _ = run(capsys, "doctor", "--db", str(db))
    assert code == 0 and "The database is healthy." in out
    # and gpucm works again on the fresh file
    assert run(capsys, "offers", "--db", str(db), "--limit", "1", "--json")[0] == 0


def test_saving_to_a_config_dir_that_cannot_be_written_is_one_line(
    capsys: pytest.CaptureFixture[str], isolated_home: Path
) -> None:
    """It was a traceback (the OSError of the temporary file); nothing is lost: the
    saved filters and watches are as they were."""
    config = isolated_home / "config"
    assert run(capsys, "filters", "save", "kept", "gpu=H100")[0] == 0
    before = (config / "filters.toml").read_bytes()
    make_read_only(config)
    try:
        for argv in (
            ["filters", "save", "new", "gpu=A100"],
            ["filters", "delete", "kept"],
            ["watch", "add", "w", "--filter", "kept", "--price-at-or-under", "1"],
        ):
            code, _, err = run(capsys, *argv)
            assert code == 1, err
            line = one_line(err)
            assert line.startswith(f"gpucm: cannot save to {config / 'filters.toml'}: "), line
        code, out, _ = run(capsys, "filters", "list", "--json")
        assert code == 0 and json.loads(out) == [{"name": "kept", "query": "gpu=H100"}]
    finally:
        writable_again(config)
    assert (config / "filters.toml").read_bytes() == before
    assert [p.name for p in config.iterdir()] == ["filters.toml"]  # no stray temporary


def test_doctor_on_a_healthy_and_on_a_missing_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "doctor", "--db", str(tmp_path / "none.db"))
    assert code == 0 and "no database there yet" in out
    db = filled_db(capsys, tmp_path / "ok.db")
    code, out, _ = run(capsys, "doctor", "--db", str(db))
    assert code == 0
    assert "integrity_check  ok" in out and "offers           ok" in out
    assert list(tmp_path.iterdir()) != [] and not list(tmp_path.glob("*.broken-*"))
