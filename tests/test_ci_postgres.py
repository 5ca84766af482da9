""".ci/with-postgres, as CI and `make test` run it: a throwaway PostgreSQL server for the
command, stopped and removed when it ends, the command's status kept; where the
server's binaries are missing, CI installs Debian's package with apt-get, and a server
that was expected but did not start fails the run instead of skipping its tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WITH_POSTGRES = REPO / ".ci" / "with-postgres"
# what the scripts need from the system, without /usr/local/bin (initdb's link here)
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def _run(cmd: list[str], tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "GPUCM_REQUIRE_POSTGRES", "GPUCM_TEST_DATABASE_URL")
    }
    return subprocess.run(
        ["bash", str(WITH_POSTGRES), *cmd],
        capture_output=True,
        text=True,
        env={**base, "TMPDIR": str(tmp), **env},
        timeout=120,
        check=False,
    )


@pytest.fixture
def no_server_binaries(tmp_path: Path) -> dict[str, str]:
    """No initdb/pg_ctl anywhere the scripts look, and an apt-get that records what it
    was asked and fails to install (the test machine's packages are left alone)."""
    if any(Path(d, "initdb").exists() for d in SYSTEM_PATH.split(":")):
        pytest.skip("initdb is in a system directory here")
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    apt = fake / "apt-get"
    apt.write_text(
        f'#!/bin/sh\necho "$@" >> {tmp_path / "apt.log"}\n[ "$1" = update ] || exit 100\n'
    )
    apt.chmod(0o755)
    return {"PATH": f"{fake}:{SYSTEM_PATH}", "PG_LIB_DIR": str(tmp_path / "no-postgresql")}


def test_in_ci_a_missing_server_is_installed_or_fails_the_run(
    tmp_path: Path, no_server_binaries: dict[str, str]
) -> None:
    ran = tmp_path / "ran"
    proc = _run(["touch", str(ran)], tmp_path, CI="true", **no_server_binaries)
    assert proc.returncode != 0
    assert "the throwaway PostgreSQL server did not start" in proc.stderr
    assert not ran.exists(), "the suite ran without the server CI expected"
    if os.geteuid() == 0:  # CI: apt-get was asked for Debian's server package
        asked = (tmp_path / "apt.log").read_text()
        assert "install" in asked and "postgresql" in asked.split()


def test_outside_ci_a_missing_server_runs_the_command_and_says_so(
    tmp_path: Path, no_server_binaries: dict[str, str]
) -> None:
    ran = tmp_path / "ran"
    proc = _run(["touch", str(ran)], tmp_path, **no_server_binaries)
    assert proc.returncode == 0 and ran.exists()
    assert "the PostgreSQL tests will be skipped" in proc.stderr
    assert not (tmp_path / "apt.log").exists()


@pytest.mark.skipif(
    shutil.which("pg_ctl") is None and not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")),
    reason="no PostgreSQL server binaries here",
)
def test_the_server_serves_the_command_and_is_stopped_and_removed_after(tmp_path: Path) -> None:
    probe = (
        "import asyncio, os, asyncpg\n"
        "async def main():\n"
        '    conn = await asyncpg.connect(os.environ["GPUCM_TEST_DATABASE_URL"])\n'
        '    print(await conn.fetchval("SELECT current_user"))\n'
        '    print(await conn.fetchval("SHOW data_directory"))\n'
        "    await conn.close()\n"
        "asyncio.run(main())\n"
        "raise SystemExit(3)\n"
    )
    python = str(REPO / ".venv" / "bin" / "python")
    proc = _run([python, "-c", probe], tmp_path)
    assert proc.returncode == 3, proc.stderr  # the command's own status
    user, data_dir = proc.stdout.split()
    assert user == "gpucm"
    # stopped, and its directory removed (as root, a TMPDIR the postgres user cannot
    # reach, as this test's is, gives way to /tmp)
    assert not Path(data_dir).exists()
    assert not list(tmp_path.glob("gpucm-pg.*"))
