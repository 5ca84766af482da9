"""`enter` in the instance manager: everything known about one machine."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gpucm import formatting as fmt
from gpucm.domain.models import Instance
from gpucm.domain.provider_names import display_name
from gpucm.engine.instances import ssh_command
from gpucm.engine.spend import accrued
from gpucm.tui.instance_text import limits_sentence, uptime
from gpucm.tui.screens.help import HELP_KEY, INSTANCE_DETAIL_HELP

__all__ = ["InstanceDetailScreen"]


class InstanceDetailScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close", id="instance.close"),
        HELP_KEY,
    ]
    HELP_TITLE = "instance keys"
    KEYS_HELP = INSTANCE_DETAIL_HELP

    def __init__(
        self,
        instance: Instance,
        now: datetime,
        price: str | None = None,
        spent: str | None = None,
    ) -> None:
        super().__init__()
        self.instance = instance
        self.now = now
        # the price line as the manager shows it (the confirmed price and the rate)
        self.price = price
        # the machine's whole spend from the ledger, as the manager shows it
        self.spent = spent

    def compose(self) -> ComposeResult:
        inst = self.instance
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        command = ssh_command(inst)
        rows = [
            ("Name", inst.name or "-"),
            ("Id", inst.id),
            ("Provider", f"{display_name(inst.provider)}  (its id: {inst.provider_id})"),
            ("Status", f"{inst.status}  (provider says {inst.raw_status or '-'!r})"),
            (
                "GPU",
                f"{inst.gpu_count} x {inst.gpu_model or '?'}"
                + (f"  (provider says {inst.gpu_name!r})" if inst.gpu_name else ""),
            ),
            ("Price", self.price or f"{fmt.price(inst.price_per_hour)}/h"),
            ("Uptime", uptime(inst, self.now)),
            (
                "Accrued",
                f"{self.spent} (every run"
                + ("; ~: gpucm's estimate" if self.spent.startswith("~") else "")
                + ")"
                if self.spent
                else fmt.price(accrued(inst, self.now)),
            ),
            ("Region", inst.region or "-"),
            ("Image", inst.image or "the provider's default"),
            ("SSH", shlex.join(command) if command else "-"),
            ("Public IP", inst.public_ip or "-"),
            ("Offer", inst.offer_id or "-"),
            ("Request id", inst.request_id or "- (not launched by gpucm)"),
            ("Created", f"{inst.created_at:%Y-%m-%d %H:%M UTC}" if inst.created_at else "-"),
            ("Started", f"{inst.started_at:%Y-%m-%d %H:%M UTC}" if inst.started_at else "-"),
        ]
        for label, value in rows:
            table.add_row(label, Text(value))
        limits = limits_sentence(inst.provider)
        with VerticalScroll(id="instance-dialog"):
            yield Static(Text(f"Instance {inst.name or inst.id}"), classes="dialog-title")
            yield Static(table, id="instance-facts")
            if limits:
                yield Static(Text(limits), classes="dialog-hint")
            yield Static("escape: close", classes="dialog-hint", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
