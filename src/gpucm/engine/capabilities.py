"""What a provider cannot honour at launch, from one table: the launch confirmation of
every front end names these, and a launch form can mark its fields with them before
anything is typed. Never silently dropped.

Some fields are honoured with a consequence worth saying (a caveat): an auto-shutdown
only stops the machine, an interruptible machine stops when outbid; in both its disk
stays and keeps billing. Some cannot be ignored (`refuses`): launching on demand when
interruptible was asked, or without the filesystems asked for, would be another
launch than the one confirmed, so the flow refuses it instead (`not_honoured`).

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

# what an interruptible machine and an auto-shutdown leave behind, in one wording
DISK_KEEPS_BILLING = "its disk stays and keeps billing"
OUTBID_STOPS = f"the machine stops when outbid; {DISK_KEEPS_BILLING}"
SHUTDOWN_STOPS = (
    f"auto-shutdown stops the machine, it does not delete it: {DISK_KEEPS_BILLING} "
    "until you terminate it"
)


@dataclass(frozen=True)
class FieldRule:
    field: str  # the launch form's key for the field
    label: str  # how a confirmation names it
    honoured: Callable[[Capabilities], bool]
    asked: Callable[[LaunchOptions], bool]  # whether a launch sets the field
    note: Callable[[str, Capabilities], str]  # why not, given the provider's name
    caveat: str | None = None  # what honouring it means, where that is worth a warning
    refuses: bool = False  # not honoured: refuse the launch rather than ignore the field


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
        "auto_shutdown",
        "auto-shutdown",
        lambda c: c.auto_shutdown,
        lambda o: bool(o.auto_terminate_hours),
        lambda name, c: f"{name} cannot stop a machine on a timer",
        caveat=SHUTDOWN_STOPS,
    ),
    FieldRule(
        "ssh_key",
        "SSH key",
        lambda c: c.ssh_key_per_launch,
        lambda o: bool(o.ssh_key_name),
        lambda name, c: (
            f"{name} installs your SSH public key, not a key saved by name"
            if c.ssh_public_key
            else f"{name} uses the keys saved in your account, not one per launch"
        ),
    ),
    FieldRule(
        "ssh_public_key",
        "SSH public key",
        lambda c: c.ssh_public_key,
        lambda o: bool(o.ssh_public_key),
        lambda name, c: f"{name} takes no SSH public key at launch",
    ),
    FieldRule(
        "interruptible",
        "interruptible",
        lambda c: c.spot,
        lambda o: o.interruptible,
        lambda name, c: f"{name} rents no interruptible (spot) machines; launch on demand",
        caveat=OUTBID_STOPS,
        refuses=True,
    ),
    FieldRule(
        "file_systems",
        "filesystems",
        lambda c: c.file_systems,
        lambda o: bool(o.file_systems),
        lambda name, c: f"{name} has no shared filesystems gpucm can attach",
        refuses=True,
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


def capability_caveats(provider: str) -> dict[str, str]:
    """The launch fields the provider honours with a consequence worth a warning, with
    the sentence that says it: for a form, beside the field."""
    caps = capabilities(provider)
    return {r.field: r.caveat for r in FIELD_RULES if r.caveat and r.honoured(caps)}


def unsupported_fields(provider: str, options: LaunchOptions) -> list[str]:
    """The fields this launch sets that the provider cannot honour and that it goes
    without (ignored), one line each; those it cannot go without are `not_honoured`."""
    caps = capabilities(provider)
    name = display_name(provider)
    return [
        f"{r.label}: {r.note(name, caps)}"
        for r in FIELD_RULES
        if r.asked(options) and not r.honoured(caps) and not r.refuses
    ]


def not_honoured(provider: str, options: LaunchOptions) -> list[str]:
    """What this launch asks that the provider cannot do and that cannot be ignored
    (a spot launch at a provider without spot): the flow refuses these."""
    caps = capabilities(provider)
    name = display_name(provider)
    return [
        r.note(name, caps)
        for r in FIELD_RULES
        if r.refuses and r.asked(options) and not r.honoured(caps)
    ]


def launch_caveats(provider: str, options: LaunchOptions) -> list[str]:
    """The caveats of the fields this launch sets, for its confirmation."""
    caps = capabilities(provider)
    return [
        f"{r.label}: {r.caveat}"
        for r in FIELD_RULES
        if r.caveat and r.asked(options) and r.honoured(caps)
    ]


def availability_meaning(provider: str) -> str:
    """What an offer's availability level says at this provider, in one clause."""
    meta = PROVIDER_META.get(provider)
    return meta.availability if meta and meta.availability else "the provider's stock level"
