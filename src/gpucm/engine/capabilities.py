"""What a provider cannot honour at launch, from one table: the launch confirmation of
every front end names these, and a launch form can mark its fields with them before
anything is typed. Never silently dropped.

The capabilities themselves are each provider's facts (`ProviderMeta.capabilities` in
providers/); this module only says what a missing one means for a launch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpucm.domain.provider_names import display_name
from gpucm.providers.base import Capabilities
from gpucm.providers.registry import PROVIDER_META

if TYPE_CHECKING:
    from gpucm.engine.launch_options import LaunchOptions


@dataclass(frozen=True)
class FieldRule:
    field: str  # the launch form's key for the field
    label: str  # how a confirmation names it
    honoured: Callable[[Capabilities], bool]
    asked: Callable[[LaunchOptions], bool]  # whether a launch sets the field
    note: Callable[[str, Capabilities], str]  # why not, given the provider's name


def _vm(caps: Capabilities) -> bool:
    return not caps.container_image


FIELD_RULES: tuple[FieldRule, ...] = (
    FieldRule(
        "image",
        "image",
        lambda c: c.container_image,
        lambda o: bool(o.image),
        lambda name, c: f"{name} runs VMs with its own OS image; the image is not used",
    ),
    FieldRule(
        "env",
        "environment",
        lambda c: c.env_vars,
        lambda o: bool(o.environment),
        lambda name, c: (
            f"{name} cannot set environment variables" + ("; set them on the VM" if _vm(c) else "")
        ),
    ),
    FieldRule(
        "ports",
        "ports",
        lambda c: c.port_mapping,
        lambda o: bool(o.ports),
        lambda name, c: f"{name} has no port mapping; open ports on the VM",
    ),
    FieldRule(
        "auto_terminate",
        "auto-terminate",
        lambda c: c.auto_terminate,
        lambda o: bool(o.auto_terminate_hours),
        lambda name, c: f"{name} cannot stop a machine on a timer",
    ),
    FieldRule(
        "ssh_key",
        "SSH key",
        lambda c: c.ssh_key_per_launch,
        lambda o: bool(o.ssh_key_name),
        lambda name, c: f"{name} uses the keys saved in your account, not one per launch",
    ),
)


def capabilities(provider: str) -> Capabilities:
    meta = PROVIDER_META.get(provider)
    return meta.capabilities if meta else Capabilities()


def capability_notes(provider: str) -> dict[str, str]:
    """Every launch field the provider cannot honour (keyed as `FieldRule.field`), with
    the sentence that says why: for a form, before anything is typed."""
    caps = capabilities(provider)
    name = display_name(provider)
    return {r.field: r.note(name, caps) for r in FIELD_RULES if not r.honoured(caps)}


def unsupported_fields(provider: str, options: LaunchOptions) -> list[str]:
    """The fields this launch sets that the provider cannot honour, one line each."""
    caps = capabilities(provider)
    name = display_name(provider)
    return [
        f"{r.label}: {r.note(name, caps)}"
        for r in FIELD_RULES
        if r.asked(options) and not r.honoured(caps)
    ]
