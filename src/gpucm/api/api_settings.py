"""The server's settings, under the original API's environment names.

PORT, ENVIRONMENT, LOG_LEVEL, ENABLE_METRICS, ENABLE_CORS, RATE_LIMIT_ENABLED,
RATE_LIMIT_RPM and DATABASE_URL are the original's; the GPUCM_* ones are gpucm's own.
Flags (--host, --port, --db) win over the environment. Light on purpose (pydantic and
the standard library): the CLI's parser imports this module for every command.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import urllib.parse
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from gpucm.config_file import parse_log_level

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
MIN_TOKEN_LENGTH = 16

# field -> environment variable
ENV_NAMES: dict[str, str] = {
    "port": "PORT",
    "environment": "ENVIRONMENT",
    "log_level": "LOG_LEVEL",
    "enable_metrics": "ENABLE_METRICS",
    "enable_cors": "ENABLE_CORS",
    "cors_origins": "CORS_ORIGINS",
    "rate_limit_enabled": "RATE_LIMIT_ENABLED",
    "rate_limit_rpm": "RATE_LIMIT_RPM",
    "api_token": "GPUCM_API_TOKEN",
    "max_body_bytes": "GPUCM_MAX_BODY_BYTES",
    "instance_sync_interval": "GPUCM_INSTANCE_SYNC_INTERVAL",
    "allowed_hosts": "GPUCM_ALLOWED_HOSTS",
}
# The names this machine answers to on loopback: always allowed as a Host. A page can
# only send one of these if it is served from this machine itself.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class ApiSettingsError(Exception):
    """A setting the server cannot start with, said in one line."""


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    environment: str = "development"
    log_level: str = "INFO"
    enable_metrics: bool = True
    enable_cors: bool = False
    cors_origins: tuple[str, ...] = ("*",)
    rate_limit_enabled: bool = True
    rate_limit_rpm: int = Field(default=100, ge=1, le=1_000_000)
    api_token: SecretStr | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    instance_sync_interval: float = Field(default=30.0, ge=1, le=86_400)
    # Host header values served beside the loopback names ("*": any). None: none on a
    # loopback address (a web page that made a hostname resolve to 127.0.0.1 -- DNS
    # rebinding -- is refused), any on another address, where the token, which no
    # browser sends on its own, is what keeps other sites out.
    allowed_hosts: tuple[str, ...] | None = None

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        return parse_log_level(value)

    @field_validator("enable_metrics", "enable_cors", "rate_limit_enabled", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError("expected true or false (1/0, yes/no, on/off)")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(o.strip() for o in value.split(",") if o.strip())
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            hosts = tuple(host_name(str(h)) for h in value if str(h).strip())
            for host in hosts:
                if host != "*" and not all(c.isalnum() or c in ".-:_" for c in host):
                    raise ValueError("expected host names separated by commas, or *")
            return hosts
        return value

    @field_validator("api_token")
    @classmethod
    def _strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            # never the value itself: this message is printed
            raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters")
        return value

    @property
    def token(self) -> str | None:
        return self.api_token.get_secret_value() if self.api_token else None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def secrets(self) -> list[str]:
        return [self.token] if self.token else []

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request's Host header names this server (see allowed_hosts)."""
        if host is None:
            return True  # HTTP/1.0 without one: not a browser
        name = host_name(host)
        if name in LOOPBACK_NAMES or is_loopback(name):
            return True
        allowed = self.allowed_hosts
        if allowed is None:
            return not self.loopback
        return "*" in allowed or name in allowed

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        host: str | None = None,
        port: int | None = None,
        only: Collection[str] | None = None,
    ) -> ApiSettings:
        """`only`: the fields read from the environment (gpucm-tui --serve reads the
        token and the allowed hosts, not the REST server's PORT or rate limit)."""
        data: dict[str, Any] = {
            field: env[name]
            for field, name in ENV_NAMES.items()
            if env.get(name, "").strip() and (only is None or field in only)
        }
        if host is not None:
            data["host"] = host
        if port is not None:
            data["port"] = port
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]  # never err["input"]: it may be the token
            field = str(err["loc"][0]) if err["loc"] else "settings"
            name = ENV_NAMES.get(field, f"--{field}")
            # pydantic puts "Value error, " before what a validator raised
            message = str(err["msg"]).removeprefix("Value error, ")
            raise ApiSettingsError(f"{name}: {message}") from None

    def exposure_problem(self) -> str | None:
        """Why this server must not start: listening beyond this machine without a token."""
        if self.loopback or self.token:
            return None
        return (
            f"refusing to listen on {self.host}: it is reachable from other machines; set "
            f"GPUCM_API_TOKEN (at least {MIN_TOKEN_LENGTH} characters) so every request must "
            "carry it, or keep the default --host 127.0.0.1"
        )


def host_name(host: str) -> str:
    """A Host header (or a name in GPUCM_ALLOWED_HOSTS) without its port: lower case,
    IPv6 without brackets, no trailing dot."""
    text = host.strip().lower()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a hostname could resolve anywhere


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def token_matches(given: str, expected: str) -> bool:
    """Compared in constant time over digests of equal length, so neither the token's
    characters nor its length can be learnt from response times (the API's token
    check and gpucm-tui --serve's)."""
    return hmac.compare_digest(_digest(given), _digest(expected))


def origin_key(origin: str) -> tuple[str, str] | None:
    """(scheme, host:port with the default port spelt out) of an Origin, or None."""
    try:
        parts = urllib.parse.urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, f"{host_name(parts.hostname)}:{port}"
