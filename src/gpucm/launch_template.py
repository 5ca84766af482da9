"""A watch's launch action (a snipe): what to launch when the watch matches, kept in
filters.toml under the watch.

    [watches.snipe-4090.launch]
    max_price_per_hour = 0.45       # required: the all-in ceiling, shown when arming
    image = "pytorch/pytorch"
    disk_gb = 50
    env = ["HF_TOKEN"]              # names only: values come from the environment at launch
    ports = ["8888/tcp"]
    ssh_key = "laptop"
    interruptible = true            # spot, with bid_per_gpu (default: the offer's minimum)
    bid_per_gpu = 0.2
    count = 1                       # machines to launch (default 1)

The template never holds an environment value: a value is read from the environment
of the gpucm that fires the watch (in a team, the refresher's) when it launches, so a
secret is never written to the file, the store or a message. Arming is kept in the
store (store/armed_watches.py), with a copy of the template: `armed` is the moment the
user armed it, and the launch's request ids are derived from the owner, the watch and
that moment, so one arming launches once, whichever process fires it and however
often it restarts. An `armed = "..."` line in filters.toml is what gpucm before the
store kept armings did: it is read once into the store (engine/armings.py) and
removed from the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpucm.domain import container_ports
from gpucm.domain.provider_names import KEY_ENV
from gpucm.domain.vocabulary import ENV_NAME

MAX_COUNT = 8
# never handed to a machine: gpucm's own keys and the team store's password
_NEVER_SENT = frozenset({*KEY_ENV.values(), "DATABASE_URL"})
_KEYS = {
    "max_price_per_hour",
    "image",
    "disk_gb",
    "env",
    "ports",
    "ssh_key",
    "interruptible",
    "bid_per_gpu",
    "count",
    "armed",
}


class TemplateError(ValueError):
    """A launch template that cannot be used; the message says which setting."""


def parse_port(text: str) -> tuple[int, str]:
    """`8888`, `8888/tcp`, `53/udp` or `8080/http`, as (container port, protocol)."""
    try:
        return container_ports.parse_port(str(text))
    except container_ports.PortError:
        raise TemplateError(f"expected {container_ports.PORT_FORMAT}, got {text!r}") from None


def check_env_name(name: str) -> str:
    if not isinstance(name, str) or not ENV_NAME.match(name):
        raise TemplateError(
            f"env {name!r}: a variable name is letters, digits and _, not starting with a digit"
        )
    if name in _NEVER_SENT:
        raise TemplateError(f"env {name}: gpucm never sends its own API keys to a machine")
    return name


@dataclass(frozen=True)
class LaunchTemplate:
    max_price_per_hour: float
    image: str | None = None
    disk_gb: float | None = None
    env: tuple[str, ...] = ()
    ports: tuple[tuple[int, str], ...] = ()
    ssh_key: str | None = None
    interruptible: bool = False
    bid_per_gpu: float | None = None
    count: int = 1
    # when the user armed it (ISO time), as the store's arming says; None: disarmed.
    # Never written to filters.toml (to_toml): the store is where an arming lives.
    armed: str | None = None

    def describe(self) -> str:
        kind = "interruptible" if self.interruptible else "on-demand"
        if self.interruptible and self.bid_per_gpu is not None:
            kind += f", bid ${self.bid_per_gpu:g}/GPU-h"
        what = [f"{self.count} x {kind} at most ${self.max_price_per_hour:.3f}/h all-in"]
        if self.image:
            what.append(f"image {self.image}")
        if self.disk_gb:
            what.append(f"{self.disk_gb:g} GB disk")
        if self.env:
            what.append("env " + ", ".join(self.env) + " (from the environment)")
        if self.ports:
            what.append("ports " + ", ".join(f"{p}/{proto}" for p, proto in self.ports))
        if self.ssh_key:
            what.append(f"ssh key {self.ssh_key}")
        return "; ".join(what)

    def environment(self, env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The named variables' values, read now; a name that is not set is an error."""
        missing = [n for n in self.env if n not in env]
        if missing:
            raise TemplateError(
                f"env {', '.join(missing)} not set in gpucm's environment; nothing was launched"
            )
        return tuple((n, env[n]) for n in self.env)

    def to_toml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"max_price_per_hour": self.max_price_per_hour}
        if self.image:
            data["image"] = self.image
        if self.disk_gb is not None:
            data["disk_gb"] = self.disk_gb
        if self.env:
            data["env"] = list(self.env)
        if self.ports:
            data["ports"] = [f"{p}/{proto}" for p, proto in self.ports]
        if self.ssh_key:
            data["ssh_key"] = self.ssh_key
        if self.interruptible:
            data["interruptible"] = True
        if self.bid_per_gpu is not None:
            data["bid_per_gpu"] = self.bid_per_gpu
        if self.count != 1:
            data["count"] = self.count
        return data


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise TemplateError(f"{where}: must be a number more than 0, not {value!r}")
    return float(value)


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise TemplateError(f"{where}: must be printable text")
    return value.strip()


def parse_template(raw: Any) -> LaunchTemplate:
    """A launch template from its TOML table; TemplateError names the bad setting."""
    if not isinstance(raw, dict):
        raise TemplateError("must be a table of settings")
    unknown = set(raw) - _KEYS
    if unknown:
        raise TemplateError(f"unknown setting(s) {', '.join(sorted(unknown))}")
    if "max_price_per_hour" not in raw:
        raise TemplateError("needs max_price_per_hour: the most it may launch at, all-in")
    env_raw = raw.get("env", [])
    ports_raw = raw.get("ports", [])
    if not isinstance(env_raw, list) or not isinstance(ports_raw, list):
        raise TemplateError("env and ports are lists")
    count = raw.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise TemplateError(f"count: a whole number from 1 to {MAX_COUNT}, not {count!r}")
    interruptible = raw.get("interruptible", False)
    if not isinstance(interruptible, bool):
        raise TemplateError("interruptible: must be true or false")
    bid = raw.get("bid_per_gpu")
    if bid is not None and not interruptible:
        raise TemplateError("bid_per_gpu: only with interruptible = true")
    armed = raw.get("armed")
    if armed is not None and not isinstance(armed, str):
        raise TemplateError("armed: the time it was armed, as text")
    return LaunchTemplate(
        max_price_per_hour=_positive(raw["max_price_per_hour"], "max_price_per_hour"),
        image=_text(raw.get("image"), "image"),
        disk_gb=None if raw.get("disk_gb") is None else _positive(raw["disk_gb"], "disk_gb"),
        env=tuple(dict.fromkeys(check_env_name(n) for n in env_raw)),
        ports=tuple(parse_port(p) for p in ports_raw),
        ssh_key=_text(raw.get("ssh_key"), "ssh_key"),
        interruptible=interruptible,
        bid_per_gpu=None if bid is None else _positive(bid, "bid_per_gpu"),
        count=count,
        armed=armed,
    )
