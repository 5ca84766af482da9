"""Secrets never land anywhere: a session with recognisable fake API keys and launch
environment values (providers that echo keys back in their errors, DEBUG logging, a
launch with secret env values from the CLI and the TUI), then a scan of every file the
session wrote (databases with their WAL, logs, config, screenshots), everything it
printed, and the repository's snapshot and screenshot files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.fake_providers import FakeProviders, fake_providers

REPO = Path(__file__).resolve().parents[1]
KEYS = {
    "vast_ai": "vk-LEAKCHECK-vast-5e1f0c9a77",
    "runpod": "rp-LEAKCHECK-runpod-5e1f0c9a77",
    "lambda_labs": "ll-LEAKCHECK-lambda-5e1f0c9a77",
    "paperspace": "ps-LEAKCHECK-paper-5e1f0c9a77",
}
ENV_VALUES = {
    "HF_TOKEN": "hf-LEAKCHECK-token-91b2d3e4f5",
    "WANDB_API_KEY": "wb-LEAKCHECK-wandb-91b2d3e4f5",
}
SECRETS = (*KEYS.values(), *ENV_VALUES.values())


def run(home: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "gpucm", *args],
        capture_output=True,
        text=True,
        env={**env, "GPUCM_HOME": str(home), "LOG_LEVEL": "DEBUG"},
        timeout=120,
        cwd=REPO,
    )
    return proc.stdout + proc.stderr


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_URL"))}


def leaks(blob: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in blob]


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def test_keys_and_env_values_never_reach_files_or_output(tmp_path: Path) -> None:
    printed: list[str] = []
    real_home, demo_home = tmp_path / "real", tmp_path / "demo"

    # real providers, each echoing the key it was sent into its error body
    with fake_providers() as fake:
        fake_env = {**clean_env(), **fake.env(KEYS), "GPUCM_HTTP_TIMEOUT": "1"}
        printed.append(run(real_home, fake_env, "refresh"))
        for provider in KEYS:
            fake.fail(provider, "echo-key")
        printed.append(run(real_home, fake_env, "refresh"))
        printed.append(run(real_home, fake_env, "providers", "--json"))
        printed.append(run(real_home, fake_env, "offers", "--all", "--json"))
        _assert_sent(fake)

    # the demo market: launches carrying secret environment values
    env_args = [arg for k, v in ENV_VALUES.items() for arg in ("--env", f"{k}={v}")]
    demo_env = clean_env()
    printed.append(
        run(
            demo_home,
            demo_env,
            "instances",
            "launch",
            "--gpu-model",
            "RTX 4090",
            "--max-price",
            "3",
            "--request-id",
            "leak-1",
            "--yes",
            "--json",
            *env_args,
        )
    )
    printed.append(run(demo_home, demo_env, "instances", "list", "--json"))

    written = files_under(real_home, demo_home)
    assert any(p.suffix == ".db" for p in written), "the session wrote its databases"
    for path in written:
        assert not leaks(path.read_bytes()), f"secret in {path}"
    for text in printed:
        assert not leaks(text.encode()), text[-2000:]
    launched = printed[4]
    assert '"request_id": "leak-1"' in launched, launched[-2000:]


def _assert_sent(fake: FakeProviders) -> None:
    # the keys did go to the providers: the test is not vacuous
    sent = " ".join(fake.seen_auth)
    assert KEYS["vast_ai"] in sent or KEYS["lambda_labs"] in sent


def test_snapshots_and_screenshots_hold_no_secret_patterns() -> None:
    """The committed SVGs are drawn with an empty home; a key-shaped string in one would
    mean a real key reached a screen."""
    files = files_under(REPO / "tests" / "tui" / "__snapshots__", REPO / "screenshots")
    assert files, "snapshots exist"
    markers = [b"LEAKCHECK", b"SECRET-"]  # the shapes every fake secret in the suite has
    for path in files:
        blob = path.read_bytes()
        found = [m for m in markers if m in blob]
        assert not found, f"{path} holds {found}"
