"""The conventions of terminal tools: logging (level from --debug, LOG_LEVEL and
config.toml; no flood from the database driver; --log-file; the TUI's file rotates;
no secret in any line), `gpucm paths`, --help that names the config file, the
environment and the exit codes, and shell completion generated from the parser."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpucm import logs
from gpucm.cli.main import main, setup_logging, tui_main
from gpucm.domain.vocabulary import SORT_KEYS
from tests.e2e.fake_providers import fake_providers
from tests.test_secrets_scan import KEYS, clean_env

REPO = Path(__file__).resolve().parents[2]


def gpucm(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in clean_env().items() if k not in ("LOG_LEVEL", "GPUCM_DB")}
    return subprocess.run(
        [sys.executable, "-m", "gpucm", *args],
        capture_output=True,
        text=True,
        env={**base, "GPUCM_HOME": str(home), **(env or {})},
        timeout=120,
        cwd=REPO,
    )


def write_config(home: Path, text: str) -> None:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")


# -- logging ------------------------------------------------------------------------


def test_log_level_in_the_config_file_is_honoured(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "cli.log"
    write_config(home, 'log_level = "DEBUG"\n')
    done = gpucm(home, "refresh", "--log-file", str(log))
    assert done.returncode == 0, done.stderr
    assert " DEBUG " in log.read_text(), "config.toml's log_level was ignored"
    # LOG_LEVEL wins over the file, --debug over both
    log.unlink()
    gpucm(home, "refresh", "--log-file", str(log), env={"LOG_LEVEL": "WARNING"})
    assert " DEBUG " not in log.read_text()
    log.unlink()
    gpucm(home, "--debug", "refresh", "--log-file", str(log), env={"LOG_LEVEL": "ERROR"})
    assert " DEBUG " in log.read_text()


def test_debug_is_not_flooded_by_the_database_driver(tmp_path: Path) -> None:
    """aiosqlite logs every statement at DEBUG: a refresh wrote thousands of lines."""
    home, log = tmp_path / "home", tmp_path / "debug.log"
    done = gpucm(home, "refresh", "--debug", "--log-file", str(log))
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert " DEBUG " in text
    assert "aiosqlite" not in text
    assert len(text.splitlines()) < 200, text[-3000:]
    assert not done.stderr.count("DEBUG"), "--log-file takes the lines off stderr"


def test_debug_goes_to_stderr_without_a_log_file(tmp_path: Path) -> None:
    done = gpucm(tmp_path / "home", "stats", "--json", "--debug")
    assert done.returncode == 0
    assert "gpucm: DEBUG: " in done.stderr
    json.loads(done.stdout)  # stdout still carries only data
    # what a user debugging a command wants first: which database, which market, the
    # outcome; not asyncio's "Using selector" line
    lines = done.stderr.splitlines()
    assert any(line.startswith("gpucm: DEBUG: stats on ") and "demo.db" in line for line in lines)
    assert any(line.startswith("gpucm: DEBUG: stats: exit 0 after ") for line in lines)
    assert "selector" not in done.stderr.lower()


def test_a_bad_log_level_or_log_file_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = gpucm(home, "stats", env={"LOG_LEVEL": "loud"})
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "gpucm: LOG_LEVEL: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )
    (tmp_path / "dir").mkdir()
    unwritable = gpucm(home, "stats", "--log-file", str(tmp_path / "dir"))
    assert unwritable.returncode == 2
    assert unwritable.stderr.startswith("gpucm: cannot write the log file ")
    assert len(unwritable.stderr.strip().splitlines()) == 1


def test_secrets_never_reach_a_debug_log_file(tmp_path: Path) -> None:
    """A refresh at DEBUG against providers that echo the key they were sent back into
    their errors, with the keys in the environment: the log file has the providers'
    lines, and no key."""
    home, log = tmp_path / "home", tmp_path / "debug.log"
    with fake_providers() as fake:
        env = {**fake.env(KEYS), "GPUCM_HTTP_TIMEOUT": "1"}
        assert gpucm(home, "--debug", "refresh", "--log-file", str(log), env=env).returncode == 0
        for provider in KEYS:
            fake.fail(provider, "echo-key")
        gpucm(home, "refresh", "--debug", "--log-file", str(log), env=env)
        assert any(KEYS["vast_ai"] in seen for seen in fake.seen_auth) or any(
            KEYS["lambda_labs"] in seen for seen in fake.seen_auth
        ), "the keys were sent: the test is not vacuous"
    text = log.read_text()
    assert " DEBUG gpucm.providers" in text, text[-2000:]
    assert "vast_ai" in text and "runpod" in text
    leaked = [key for key in KEYS.values() if key in text]
    assert not leaked, f"{leaked} in the log"


def test_every_line_is_scrubbed_even_one_that_carries_a_key(tmp_path: Path) -> None:
    stream_file = tmp_path / "lines.log"
    with stream_file.open("w") as stream:
        logs.configure("DEBUG", secrets=["sk-SECRET-0123456789"], stream=stream)
        logging.getLogger("gpucm.test").debug(
            "sent %s to postgresql://gpucm:hunter2-pw@db/gpucm", "sk-SECRET-0123456789"
        )
        try:
            raise ValueError("key sk-SECRET-0123456789 refused")
        except ValueError:
            logging.getLogger("gpucm.test").exception("failed")
    text = stream_file.read_text()
    assert "sk-SECRET" not in text and "hunter2" not in text
    assert "postgresql://gpucm:***@db/gpucm" in text and "ValueError" in text


def test_secrets_come_from_the_environment_and_the_config_file() -> None:
    env = {
        "VAST_AI_API_KEY": "vast-key-1234",
        "GPUCM_API_TOKEN": "token-123456789",
        "DATABASE_URL": "postgresql://u:db-password@h/d",
    }
    config = {"providers": {"runpod": {"api_key": "rp-key-5678"}, "x": "not a table"}}
    assert set(logs.secrets_from(env, config)) == {
        "vast-key-1234",
        "token-123456789",
        "db-password",
        "rp-key-5678",
    }


def test_the_tui_log_file_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tmp_path / "logs" / "gpucm-tui.log"
    setup_logging(debug=True, log_file=None, default_file=default)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert handler.maxBytes == logs.LOG_FILE_BYTES and handler.backupCount == logs.LOG_FILE_BACKUPS
    assert Path(handler.baseFilename) == default
    # rotation as it happens: small files, so the test writes a few lines
    monkeypatch.setattr(logs, "LOG_FILE_BYTES", 300)
    setup_logging(debug=True, log_file=None, default_file=default)
    for i in range(40):
        logging.getLogger("gpucm.test").debug("line %d of a long session", i)
    logging.shutdown()
    rotated = sorted(p.name for p in default.parent.iterdir())
    assert rotated == ["gpucm-tui.log", "gpucm-tui.log.1", "gpucm-tui.log.2", "gpucm-tui.log.3"]
    assert all(p.stat().st_size <= 400 for p in default.parent.iterdir())


def test_gpucm_tui_takes_debug_and_log_file(tmp_path: Path) -> None:
    log = tmp_path / "tui.log"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from gpucm.cli.main import tui_main; sys.exit(tui_main())",
            "--debug",
            "--log-file",
            str(log),
            "--query",
            "price<<2",
        ],
        capture_output=True,
        text=True,
        env={**clean_env(), "GPUCM_HOME": str(tmp_path / "home")},
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.startswith("gpucm-tui: --query: ")
    assert log.exists(), "the log file was opened before the app"


# -- gpucm paths --------------------------------------------------------------------


def test_paths_prints_every_location(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = gpucm(home, "paths", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["config_file"] == str(home / "config" / "config.toml")
    assert found["data_dir"] == str(home / "data")
    assert found["log_dir"] == str(home / "logs")
    assert found["tui_log_file"] == str(home / "logs" / "gpucm-tui.log")
    assert found["database"] == str(home / "data" / "demo.db") and found["demo"] is True
    assert not home.exists(), "paths creates nothing"
    text = gpucm(home, "paths").stdout
    assert f"config file    {home / 'config' / 'config.toml'} (none yet)" in text
    assert f"database       {home / 'data' / 'demo.db'} (demo market)" in text


def test_paths_masks_a_database_password(tmp_path: Path) -> None:
    env = {
        "GPUCM_DB": "postgresql://gpucm:s3cret-pw@db.internal:5432/gpucm",
        "DATABASE_URL": "postgresql://admin:other-pw@db/gpucm?sslmode=require",
    }
    done = gpucm(tmp_path / "home", "paths", "--json", env=env)
    assert done.returncode == 0
    found = json.loads(done.stdout)
    # every command opens DATABASE_URL's store before GPUCM_DB's (gpucm/db_location.py)
    assert found["database"] == "postgresql://admin:***@db/gpucm?sslmode=require"
    assert found["database_from"] == "DATABASE_URL"
    text = gpucm(tmp_path / "home", "paths", env=env).stdout
    assert "postgresql://admin:***@db/gpucm?sslmode=require (DATABASE_URL)" in text
    assert "s3cret" not in done.stdout + done.stderr and "other-pw" not in done.stdout + text


def test_paths_answers_with_a_broken_config_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_config(home, "this is not = = toml")
    done = gpucm(home, "paths")
    assert done.returncode == 0 and "config file" in done.stdout
    assert "is not valid TOML" in done.stderr


def test_mask_password() -> None:
    assert logs.mask_password("postgresql://u:p%40ss@h/d") == "postgresql://u:***@h/d"
    assert logs.mask_password("host=db password=hunter2 user=u") == "host=db password=*** user=u"
    assert logs.mask_password("sqlite:////var/lib/gpucm.db") == "sqlite:////var/lib/gpucm.db"
    assert logs.mask_password("http://host:8080/a@b") == "http://host:8080/a@b"


# -- --help -------------------------------------------------------------------------


def test_help_names_the_config_file_the_environment_and_the_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for entry in (main, tui_main):
        with pytest.raises(SystemExit):
            entry(["--help"])
        text = capsys.readouterr().out
        assert str(tmp_path / "gpucm-home" / "config" / "config.toml") in text
        names = ("VAST_AI_API_KEY", "RUNPOD_API_KEY", "GPUCM_HOME", "DATABASE_URL", "GPUCM_DB")
        for name in (*names, "LOG_LEVEL", "--debug"):
            assert name in text, f"{name} not in {entry.__name__}'s --help"
        assert "exit status:" in text and "130" in text and "bad input" in text
    with pytest.raises(SystemExit):
        tui_main(["--help"])
    tui_help = " ".join(capsys.readouterr().out.split())  # as read, not as wrapped
    assert "gpucm-tui.log" in tui_help and "rotated at 1 MiB, 3 old files kept" in tui_help
    assert "--serve" in tui_help and "GPUCM_API_TOKEN" in tui_help


@pytest.mark.parametrize("columns", [80, 120])
def test_help_fits_the_terminal(
    columns: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the files, environment and exit-status parts are laid out by gpucm, not argparse:
    # at 80 columns they wrapped mid-word when laid out for 88
    home = str(tmp_path / "gpucm-home")
    monkeypatch.setenv("COLUMNS", str(columns))
    for entry in (main, tui_main):
        with pytest.raises(SystemExit):
            entry(["--help"])
        lines = capsys.readouterr().out.splitlines()
        # unbreakable: the four provider key names side by side, a path (this test's is long)
        too_long = [
            line
            for line in lines
            if len(line) > columns and "_API_" not in line and home not in line
        ]
        assert not too_long, f"{entry.__name__} --help at {columns} columns: {too_long}"
        assert any(line.startswith("  130") for line in lines)


# -- completion ---------------------------------------------------------------------


def _bash_completes(words: str) -> list[str]:
    """What bash offers for `words` (the last word being completed), driving the
    completion function `gpucm completion bash` registered."""
    script = (
        "source <(gpucm completion bash)\n"
        f"COMP_LINE={words!r}\n"
        f"COMP_WORDS=({words}{' ' + repr('') if words.endswith(' ') else ''})\n"
        "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
        "COMP_POINT=${#COMP_LINE}\n"
        "fn=$(complete -p gpucm | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n"
        '"$fn" gpucm "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return sorted(set(done.stdout.split()))


def test_bash_completion_works_when_sourced() -> None:
    done = subprocess.run(
        ["bash", "-c", "source <(gpucm completion bash); complete -p gpucm"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(" gpucm") and "-F _shtab_gpucm" in done.stdout


def test_bash_completes_commands_flags_and_choices() -> None:
    assert _bash_completes("gpucm of") == ["offers"]
    assert _bash_completes("gpucm p") == ["paths", "providers"]
    assert _bash_completes("gpucm instances l") == ["launch", "list", "logs"]
    assert _bash_completes("gpucm offers --sort-") == ["--sort-by", "--sort-order"]
    # every sort key the parser accepts, and nothing else
    assert _bash_completes("gpucm offers --sort-by ") == sorted(SORT_KEYS)
    assert _bash_completes("gpucm offers --sort-by v") == ["value", "vram"]
    assert _bash_completes("gpucm completion ") == ["bash", "fish", "zsh"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_are_valid(shell: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gpucm", "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0
    script = out.stdout
    if shell == "zsh":
        assert script.startswith("#compdef gpucm") and "_shtab_gpucm_offers" in script
    else:
        assert "complete -c gpucm -n __fish_use_subcommand -a offers" in script
        assert f"-l sort-by -x -a '{' '.join(SORT_KEYS)}'" in script
        assert "-l db -d" in script and "-r -F" in script
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed: the script's syntax is not checked")
    check = subprocess.run([shell, "-n"], input=script, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_gpucm_serve_follows_the_same_level_rule(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpucm.cli.parser import build_parser
    from gpucm.cli.serve import server_settings

    def level(*argv: str) -> str:
        return server_settings(build_parser().parse_args([*argv])).log_level

    assert level("serve") == "INFO"  # the server's own default
    write_config(isolated_home, 'log_level = "WARNING"\n')
    assert level("serve") == "WARNING"
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    assert level("serve") == "ERROR"
    assert level("--debug", "serve") == "DEBUG"
    assert level("serve", "--debug") == "DEBUG"
