from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from gpucm import paths
from gpucm.config import (
    ConfigError,
    SettingsSource,
    load_settings,
    save_settings_value,
    warn_if_exposed,
)
from gpucm.services import open_services


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_env_names_of_the_original_api_and_precedence(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "config.toml",
        '[providers.vast]\napi_key = "from-file"\nrefresh_interval = 30\n'
        '[providers.lambda_labs]\napi_key = "lam"\n',
    )
    env = {
        "VAST_AI_API_KEY": "from-env",
        "RUNPOD_API_KEY": "rp",
        "PAPERSPACE_API_URL": "http://proxy.local/v1",
        "LOG_LEVEL": "DEBUG",
    }
    s = load_settings(env, cfg)
    assert s.provider("vast_ai").api_key is not None
    assert s.provider("vast_ai").api_key.get_secret_value() == "from-env"  # env wins
    assert s.interval_for("vast_ai") == 30  # file value kept alongside
    assert s.configured_providers() == ["vast_ai", "runpod", "lambda_labs"]
    assert s.provider("paperspace").base_url == "http://proxy.local/v1"
    assert not s.provider("paperspace").configured
    assert s.log_level == "DEBUG"


def test_keys_never_in_reprs(tmp_path: Path) -> None:
    s = load_settings({"VAST_AI_API_KEY": "sk-very-secret-1"}, tmp_path / "none.toml")
    assert "sk-very-secret-1" not in repr(s)
    assert "sk-very-secret-1" not in str(s.model_dump())
    assert s.secrets() == ["sk-very-secret-1"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[providers.aws]\napi_key = 'x'\n", "unknown provider [providers.aws]"),
        ("refresh_interval = 1\n", "refresh_interval"),
        ("this is = = not toml", "not valid TOML"),
        ("colour = 'red'\n", "colour"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, needle: str) -> None:
    cfg = write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError) as err:
        load_settings({}, cfg)
    message = str(err.value)
    assert needle in message
    assert str(cfg) in message
    assert "\n" not in message


def test_saved_config_is_private_and_keeps_other_values(tmp_path: Path) -> None:
    cfg = write(tmp_path / "config.toml", 'theme = "nord"\n', mode=0o644)
    save_settings_value(cfg, ("providers", "runpod", "api_key"), "rp-key-123")
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    s = load_settings({}, cfg)
    assert s.theme == "nord"
    assert s.configured_providers() == ["runpod"]
    save_settings_value(cfg, ("providers", "runpod", "api_key"), None)
    assert load_settings({}, cfg).configured_providers() == []


def test_readable_config_with_keys_gets_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = write(
        tmp_path / "config.toml", '[providers.vast_ai]\napi_key = "sk-abc-123456"\n', mode=0o644
    )
    with caplog.at_level(logging.WARNING):
        load_settings({}, cfg)
    assert f"chmod 600 {cfg}" in caplog.text
    assert "sk-abc-123456" not in caplog.text
    cfg.chmod(0o600)
    assert warn_if_exposed(cfg, {"providers": {"vast_ai": {"api_key": "k"}}}) is None
    keyless = write(tmp_path / "other.toml", 'theme = "x"\n', mode=0o644)
    assert warn_if_exposed(keyless, {"theme": "x"}) is None


def test_settings_source_follows_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "config.toml", "")
    now = [0.0]
    source = SettingsSource({}, cfg, monotonic=lambda: now[0])
    assert source.current().configured_providers() == []
    write(cfg, '[providers.lambda]\napi_key = "abc"\n')
    os.utime(cfg, (1, 1))
    assert source.current().configured_providers() == []  # checked at most once a second
    now[0] += 2
    assert source.current().configured_providers() == ["lambda_labs"]
    write(cfg, "not = = toml")
    os.utime(cfg, (2, 2))
    now[0] += 2
    assert source.current().configured_providers() == ["lambda_labs"]  # last good kept
    assert source.last_error is not None and "not valid TOML" in source.last_error


async def test_adding_a_key_takes_effect_at_the_next_refresh() -> None:
    cfg = write(paths.config_file(), '[providers.runpod]\napi_key = "rp-1"\n')
    services = await open_services(env={})
    try:
        assert not services.demo
        assert [s.name for s in services.sources()] == ["runpod"]
        first = services.sources()[0]
        write(cfg, '[providers.runpod]\napi_key = "rp-1"\n[providers.lambda]\napi_key = "l"\n')
        os.utime(cfg, (10, 10))
        services.settings_source._checked -= 5  # as if a few seconds had passed
        names = [s.name for s in services.sources()]
        assert names == ["runpod", "lambda_labs"]
        assert services.sources()[0] is first  # an unchanged provider keeps its client
        write(cfg, '[providers.lambda]\napi_key = "l"\n')
        os.utime(cfg, (20, 20))
        services.settings_source._checked -= 5
        assert [s.name for s in services.sources()] == ["lambda_labs"]
    finally:
        await services.aclose()


async def test_no_keys_means_the_demo_market_in_its_own_database() -> None:
    services = await open_services(env={})
    try:
        assert services.demo
        assert Path(services.store.path).name == "demo.db"
        assert [s.name for s in services.sources()] == [
            "vast_ai",
            "runpod",
            "lambda_labs",
            "paperspace",
        ]
        assert all(s.is_demo for s in services.sources())
    finally:
        await services.aclose()


def test_a_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    from gpucm.config_file import ConfigError, read_config

    path = tmp_path / "config.toml"
    path.write_bytes(b'[providers.vast_ai]\napi_key = "\xff\xfe secret"\n')
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        read_config(path)
    assert "secret" not in str(info.value)


def test_the_watches_webhook_is_a_secret_checked_as_a_url(tmp_path: Path) -> None:
    # the top-level webhook_url (watches' alerts and snipes) often carries a token, as
    # [events]'s does: it was a plain str, neither scrubbed nor checked
    from gpucm.config import ConfigError, load_settings

    cfg = tmp_path / "config.toml"
    hook = "https://hooks.slack.com/services/T000/B000/WATCHTOKEN"
    cfg.write_text(f'webhook_url = " {hook} "\n')
    settings = load_settings({}, cfg)
    assert settings.watch_webhook() == hook
    assert "WATCHTOKEN" not in repr(settings) and "WATCHTOKEN" not in str(settings)
    assert hook in settings.secrets()
    cfg.write_text('webhook_url = "ftp://x/SECRETPATH"\n')
    with pytest.raises(ConfigError) as err:
        load_settings({}, cfg)
    assert "SECRETPATH" not in str(err.value) and "http" in str(err.value)
