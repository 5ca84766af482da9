"""`i`: the instance manager. Every machine the user runs, across providers, kept
current by the app's sync worker; stop, start, restart, terminate, SSH and logs.

Actions a provider lacks are greyed out in the footer (Lambda cannot stop, RunPod
cannot restart) and the line under the table says why; terminating asks for the
machine's name, typed.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from collections.abc import MutableMapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast, runtime_checkable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static

from gpucm import formatting as fmt
from gpucm.domain.hosts import DEFAULT_TTL
from gpucm.domain.models import Instance
from gpucm.domain.provider_names import display_name
from gpucm.engine.confirmed_price import Confirmed, confirmed_prices, rate_move, shown_price
from gpucm.engine.host_memory import mark_bad
from gpucm.engine.instances import Action, SyncOutcome, is_demo, ssh_command, status_text
from gpucm.engine.spend import (
    SpendReport,
    accrued,
    amount_text,
    hours_left_in_month,
)
from gpucm.tui.instance_text import (
    VERBS,
    budget_line,
    limits_sentence,
    price_sentence,
    refusal,
    rental_sentence,
    ssh_endpoint,
    uptime,
)
from gpucm.tui.screens.help import INSTANCES_HELP
from gpucm.tui.screens.instance_detail import InstanceDetailScreen
from gpucm.tui.screens.logs import LogsScreen
from gpucm.tui.screens.mark_bad import MarkBadScreen
from gpucm.tui.screens.terminate import TerminateScreen
from gpucm.tui.text import clean, one_line
from gpucm.tui.widgets.key_bar import KeyBar
from gpucm.tui.widgets.line_table import Cell, LineTable, TableColumn

if TYPE_CHECKING:
    from gpucm.services import Services

log = logging.getLogger(__name__)

__all__ = ["InstanceSync", "InstancesScreen", "InstancesSynced", "open_instances"]

# most needed first: a narrow terminal pages to the rest with ←/→ (the detail line
# under the table names the provider of the machine under the cursor)
COLUMNS: tuple[TableColumn, ...] = (
    TableColumn("name", "Name"),
    TableColumn("status", "Status"),
    TableColumn("price", "$/h", right=True),
    TableColumn("accrued", "Accrued", right=True),
    TableColumn("ssh", "SSH", fill=True, minimum=12),
    TableColumn("provider", "Provider"),
    TableColumn("gpu", "GPU"),
    TableColumn("uptime", "Uptime", right=True),
)
# before the header's $/h: what the providers bill now, not the rows' confirmed prices
BILLED_LABEL = "billed "

# in a team's store, who launched each machine (user@host) comes after what it costs
TEAM_COLUMNS: tuple[TableColumn, ...] = (*COLUMNS[:4], TableColumn("by", "By"), *COLUMNS[4:])


class InstancesSynced(Message):
    """The app synced the providers' instance lists into the store."""

    def __init__(self, outcomes: list[SyncOutcome]) -> None:
        super().__init__()
        self.outcomes = outcomes


def open_instances(app: App[Any], services: Services, focus: str | None = None) -> None:
    """Show the instance manager, focused on an instance: the open one, or a new one."""
    if isinstance(app.screen, InstancesScreen):
        app.screen.focus_instance(focus)
    else:
        app.push_screen(InstancesScreen(services, focus=focus))


@runtime_checkable
class InstanceSync(Protocol):
    """The app's side of the sync (GpucmApp in tui/app.py). The screen also runs under
    a plain App (tests), then syncing once itself."""

    def follow_instances(self, active: bool) -> None: ...

    def sync_instances(self) -> object: ...


class InstancesScreen(Screen[None]):
    HELP_TITLE = "instance manager keys"
    KEYS_HELP = INSTANCES_HELP
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "instances--running",
        "instances--provisioning",
        "instances--stopped",
        "instances--error",
        "instances--terminated",
        "instances--outbid",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "ssh", "SSH", id="instances.ssh"),
        Binding("y", "copy_ssh", "Copy", id="instances.copy_ssh"),
        Binding("x", "act('stop')", "Stop", id="instances.stop"),
        Binding("u", "act('start')", "Start", id="instances.start"),
        Binding("R", "act('restart')", "Restart", id="instances.restart"),
        Binding("t", "terminate", "Terminate", id="instances.terminate"),
        Binding("l", "logs", "Logs", id="instances.logs"),
        Binding("escape,q", "back", "Back", id="instances.back"),
        Binding("r", "sync", "Sync", id="instances.sync"),
        Binding("enter", "detail", "Detail", id="instances.detail", show=False),
        Binding("a", "toggle_all", "All/live", id="instances.all"),
        Binding("b", "mark_bad", "Bad host", id="instances.mark_bad"),
    ]
    KEY_ORDER: ClassVar[tuple[str, ...]] = (
        "instances.ssh",
        "instances.stop",
        "instances.start",
        "instances.terminate",
        "instances.logs",
        "instances.copy_ssh",
        "instances.restart",
        "instances.sync",
        "instances.all",
        "instances.back",
    )

    def __init__(self, services: Services, *, focus: str | None = None) -> None:
        super().__init__()
        self.services = services
        self.instances: dict[str, Instance] = {}
        self.show_terminated = False
        self._focus = focus
        self._errors: dict[str, str | None] = {}
        # request id -> the price its confirmation showed (from the launch journal)
        self.confirmed: MutableMapping[str, Confirmed | None] = {}
        # the spend ledger as last read; the 1 s tick moves it on without a read
        self.report: SpendReport | None = None
        self._header: tuple[str, bool, bool] | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="▦")
        yield Static("", id="instances-spend")
        yield LineTable(id="instances-table")
        yield Static("", id="instances-detail")
        yield KeyBar()

    @property
    def table(self) -> LineTable:
        return self.query_one("#instances-table", LineTable)

    @property
    def current(self) -> Instance | None:
        key = self.table.cursor_key
        return None if key is None else self.instances.get(key)

    def on_mount(self) -> None:
        self.title = "Instances"
        self.sub_title = "DEMO market (simulated)" if self.services.demo else "live"
        self.table.focus()
        self.reload()
        self.set_interval(1.0, self.tick, name="instances-tick")
        app = self._gpucm_app()
        if app is not None:
            app.follow_instances(True)
        else:
            self._sync_here()

    def on_unmount(self) -> None:
        app = self._gpucm_app()
        if app is not None:
            app.follow_instances(False)

    def _gpucm_app(self) -> InstanceSync | None:
        app = self.app
        return app if isinstance(app, InstanceSync) else None

    # -- data -----------------------------------------------------------------------

    @work(group="instances-sync-here", exclusive=True, exit_on_error=False)
    async def _sync_here(self) -> None:
        """Without the app's sync worker (a test app): sync once here."""
        self.post_message(InstancesSynced(await self.services.instances.sync()))

    @on(InstancesSynced)
    def _synced(self, event: InstancesSynced) -> None:
        for outcome in event.outcomes:
            previous = self._errors.get(outcome.provider)
            current = None if outcome.ok else outcome.error
            if current and current != previous:
                self.notify(
                    one_line(f"{display_name(outcome.provider)}: {current}"),
                    title="Instance sync failed",
                    severity="warning",
                    markup=False,
                )
            self._errors[outcome.provider] = current
        self.reload()

    @work(group="instances-load", exclusive=True, exit_on_error=False)
    async def reload(self) -> None:
        manager = self.services.instances
        listed = await manager.list(include_terminated=self.show_terminated)
        self.report = await manager.spend([i.id for i in listed])
        await confirmed_prices(self.services.store.journal, listed, self.confirmed)
        self._show(listed)

    def confirmed_price(self, instance: Instance) -> Confirmed | None:
        """The price confirmed when gpucm launched it (None if unknown)."""
        return self.confirmed.get(instance.request_id or "")

    def _cells(self, instance: Instance) -> dict[str, Cell]:
        now = self.services.clock()
        gpu = f"{instance.gpu_count}x {instance.gpu_model or instance.gpu_name or '?'}"
        # an outbid (or preempted) stop is its own reason, not a stop the user made
        look = "outbid" if instance.status_reason else instance.status
        status = self.get_component_rich_style(f"instances--{look}", partial=True)
        confirmed = self.confirmed_price(instance)
        shown = shown_price(instance, confirmed)
        # the price confirmed at launch; ▲/▼ when the provider bills another rate now
        price = fmt.price(shown) + (rate_move(instance, confirmed) or " ")
        return {
            "provider": Cell(display_name(instance.provider)),
            "name": Cell(instance.name or instance.provider_id),
            "gpu": Cell(gpu),
            # "running (spot)", "stopped (outbid)": the same words as the CLI's
            "status": Cell((status_text(instance), status)),
            "uptime": Cell(uptime(instance, now), right=True),
            "price": Cell(price, right=True),
            "accrued": self._accrued(instance, now),
            "ssh": Cell(ssh_endpoint(instance)),
            "by": Cell(instance.launched_by or "-"),
        }

    def _accrued(self, instance: Instance, now: datetime) -> Cell:
        """The machine's whole spend from the ledger, every run (~: estimated)."""
        report = self.report.tick(now) if self.report is not None else None
        amount = report.machine(instance.id) if report is not None else None
        if amount is not None:
            return Cell(amount_text(amount), right=True)
        return Cell(fmt.price(accrued(instance, now)), right=True)

    def tick(self) -> None:
        """Every second: the accrued figures and uptimes move on from each rate and
        the time gone by, and only the cells that changed are repainted (no store
        read, no new table)."""
        if self.report is None or not self.instances:
            return
        now = self.services.clock()
        changes = {}
        for instance in self.instances.values():
            changes[instance.id] = {
                "accrued": self._accrued(instance, now),
                "uptime": Cell(uptime(instance, now), right=True),
            }
        self.table.update_cells(changes)
        self._show_spend()

    def on_resize(self) -> None:
        self._header = None
        self._show_spend()

    def _show(self, listed: list[Instance]) -> None:
        table = self.table
        self.instances = {i.id: i for i in listed}
        keep = self._focus if self._focus in self.instances else table.cursor_key
        rows = [(i.id, self._cells(i)) for i in listed]
        columns = TEAM_COLUMNS if self.services.team is not None else COLUMNS
        table.set_data(columns, rows, cursor=keep)
        if self._focus is not None and self._focus in self.instances:
            self._focus = None
        self._header = None
        self._show_spend()
        self._show_detail()
        self.refresh_bindings()

    def focus_instance(self, instance_id: str | None) -> None:
        self._focus = instance_id
        self.reload()

    def _show_spend(self) -> None:
        """The header: what bills now, today and this month (UTC), the budget; the
        team's when the store is a team's. As many words as the width takes."""
        if self.report is None:
            return
        now = self.services.clock()
        summary = self.report.tick(now).summary
        budget = self.services.settings.budget
        month_end = summary.month.usd + summary.per_hour * hours_left_in_month(now)
        team = "team: " if self.services.team is not None else ""
        failing = sorted(display_name(p) for p, e in self._errors.items() if e)
        estimated = summary.month.estimated
        width = self.query_one("#instances-spend", Static).size.width or 80
        live = len([i for i in self.instances.values() if i.status != "terminated"])
        lines = []
        for short in (False, True):
            parts = [
                f"{summary.running} of {live} running"
                if not short
                else f"{summary.running} running",
                f"today {amount_text(summary.today)}",
                f"{'this month' if not short else 'month'} {amount_text(summary.month)}"
                + (" (UTC)" if not short else ""),
            ]
            line = budget_line(budget, summary.per_hour, month_end, short=short)
            if line is not None:
                parts.append(line[0])
            if estimated:
                parts.append("~ estimated" if not short else "~ est.")
            if failing:
                parts.append(f"sync failing: {', '.join(failing)}")
            lines.append(parts)
        # "billed": the providers' rates in the ledger, which today and this month
        # accrue at; a row shows the all-in price confirmed at launch (its storage an
        # estimate), so the rows need not add up to this
        rate = f"{team}{BILLED_LABEL}{fmt.price(summary.per_hour)}/h"
        sep = " · "
        chosen = lines[-1]
        for parts in lines:
            if len(rate) + sum(len(p) + len(sep) for p in parts) <= width:
                chosen = parts
                break
        fullest = 0.0
        full = budget_line(budget, summary.per_hour, month_end)
        if full is not None:
            fullest = full[1]
        warn = fullest >= budget.warn_fraction and fullest <= 1
        over = fullest > 1
        key = (rate + sep + sep.join(chosen), warn, over)
        if key == self._header:
            return  # nothing moved: no repaint
        self._header = key
        text = Text()
        text.append(team + BILLED_LABEL)
        text.append(f"{fmt.price(summary.per_hour)}/h", style="bold")
        for part in chosen:
            text.append(sep)
            text.append(part)
        widget = self.query_one("#instances-spend", Static)
        widget.update(text)
        widget.set_class(warn, "-warn")
        widget.set_class(over, "-over")

    def _show_detail(self) -> None:
        detail = self.query_one("#instances-detail", Static)
        instance = self.current
        if instance is None:
            detail.update(
                Text(
                    "No instances. Launch one with L on an offer in the main table."
                    if not self.instances
                    else ""
                )
            )
            return
        line = Text()
        line.append(instance.name or instance.provider_id, style="bold")
        line.append(
            f"  {status_text(instance)} (provider says {instance.raw_status or '-'!r})"
            f"  ·  {display_name(instance.provider)}"
        )
        line.append("\n" + price_sentence(instance, self.confirmed_price(instance)))
        rental = rental_sentence(instance)
        if rental:
            style = self.get_component_rich_style("instances--outbid", partial=True)
            line.append("\n" + rental, style=style if instance.status_reason else "")
        line.append(
            f"\n{instance.id}  ·  {instance.region or '-'}  ·  {instance.image or 'default image'}"
        )
        if instance.launched_by:
            line.append(f"  ·  launched by {instance.launched_by}")
        if instance.origin:
            line.append(f"  ·  launched by {instance.origin} (a snipe)")
        limits = limits_sentence(instance.provider)
        if limits:
            line.append("\n" + limits)
        detail.update(line)

    @on(LineTable.RowHighlighted)
    def _highlighted(self, _event: LineTable.RowHighlighted) -> None:
        self._show_detail()
        self.refresh_bindings()

    # -- actions --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "act":
            return None if refusal(self.current, str(parameters[0])) else True
        if action in ("terminate", "ssh", "copy_ssh", "logs", "detail"):
            return None if refusal(self.current, action) else True
        return True

    def disabled_reason(self, action: str, parameters: tuple[object, ...]) -> str | None:
        """Why a greyed-out key does nothing (the app says it when the key is pressed)."""
        if action == "act":
            return refusal(self.current, str(parameters[0]))
        return refusal(self.current, action)

    def _refused(self, action: str) -> Instance | None:
        """The highlighted instance if `action` can run on it; else say why, None."""
        instance = self.current
        reason = refusal(instance, action)
        if reason:
            self.notify(reason, severity="warning", timeout=4, markup=False)
            return None
        return instance

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_sync(self) -> None:
        app = self._gpucm_app()
        if app is not None:
            app.sync_instances()
        else:
            self._sync_here()

    def action_toggle_all(self) -> None:
        self.show_terminated = not self.show_terminated
        self.notify(
            "Showing terminated machines too." if self.show_terminated else "Live machines.",
            timeout=2,
        )
        self.reload()

    def action_act(self, action: str) -> None:
        instance = self._refused(action)
        if instance is None or action not in VERBS:
            return
        self.perform(instance, cast("Action", action))

    def perform(self, instance: Instance, action: Action) -> None:
        self.notify(f"{VERBS[action]} {instance.name or instance.id}…", timeout=3, markup=False)
        self.run_worker(self._act(instance, action), group="instance-action", exit_on_error=False)

    async def _act(self, instance: Instance, action: Action) -> None:
        try:
            updated = await self.services.instances.act(instance, action)
        except Exception as exc:  # InstanceError, a provider gone from the config...
            self.notify(
                self._clean(f"{action} failed: {exc}"),
                title=display_name(instance.provider),
                severity="error",
                markup=False,
            )
        else:
            self.notify(f"{updated.name or updated.id}: {updated.status}", timeout=3, markup=False)
        self.reload()

    def action_terminate(self) -> None:
        instance = self._refused("terminate")
        if instance is None:
            return

        def confirmed(answer: bool | None) -> None:
            if answer:
                self.perform(instance, "terminate")

        self.app.push_screen(TerminateScreen(instance), confirmed)

    def action_mark_bad(self) -> None:
        instance = self.current
        if instance is None:
            self.notify("No instance selected.", severity="warning", timeout=4)
            return

        def marked(reason: str | None) -> None:
            if reason:
                self.run_worker(
                    self._mark_bad(instance, reason), group="mark-bad", exit_on_error=False
                )

        self.app.push_screen(MarkBadScreen(instance), marked)

    async def _mark_bad(self, instance: Instance, reason: str) -> None:
        try:
            entry = await mark_bad(self.services.store, instance, reason)
        except Exception as exc:  # NoHost, a store that cannot be written...
            self.notify(self._clean(f"Not marked: {exc}"), severity="error", markup=False)
            return
        self.notify(
            f"Remembered {entry.host} as bad for {DEFAULT_TTL.days} days: its offers are "
            "hidden and failover skips it (gpucm hosts forget brings it back).",
            timeout=6,
            markup=False,
        )

    def action_ssh(self) -> None:
        instance = self._refused("ssh")
        command = ssh_command(instance) if instance else None
        if instance is None or command is None:
            return
        text = shlex.join(command)
        if is_demo(instance):
            self.notify(
                f"A demo machine has no real host. The command would be: {text}",
                title="SSH",
                timeout=8,
                markup=False,
            )
            return
        try:
            with self.app.suspend():
                subprocess.run(command, check=False)
        except SuspendNotSupported:
            self.notify(
                f"This terminal cannot be handed to ssh; run: {text}",
                title="SSH",
                severity="warning",
                timeout=8,
                markup=False,
            )
        except OSError as exc:
            self.notify(one_line(f"Could not run ssh: {exc}"), severity="error", markup=False)
        self.refresh()

    def action_copy_ssh(self) -> None:
        instance = self._refused("copy_ssh")
        command = ssh_command(instance) if instance else None
        if command is None:
            return
        text = shlex.join(command)
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied: {text}", timeout=4, markup=False)

    def action_logs(self) -> None:
        instance = self._refused("logs")
        if instance is not None:
            self._logs(instance)

    @work(group="instance-logs", exclusive=True, exit_on_error=False)
    async def _logs(self, instance: Instance) -> None:
        try:
            text = await self.services.instances.logs(instance)
        except Exception as exc:
            self.notify(self._clean(f"No logs: {exc}"), severity="error", markup=False)
            return
        self.app.push_screen(LogsScreen(instance.name or instance.id, text))

    def action_detail(self) -> None:
        instance = self.current
        if instance is not None:
            price = price_sentence(instance, self.confirmed_price(instance))
            now = self.services.clock()
            spent = self._accrued(instance, now).plain
            self.app.push_screen(InstanceDetailScreen(instance, now, price=price, spent=spent))

    def _clean(self, text: str) -> str:
        return clean(text, self.services.settings.secrets())
