"""Managing the user's machines across providers: sync, actions, logs, SSH."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from gpucm.domain.clock import month_start
from gpucm.domain.models import Instance
from gpucm.domain.provider_names import display_name
from gpucm.engine.events import Events
from gpucm.engine.host_memory import record_failures
from gpucm.engine.ports import EnginePorts
from gpucm.engine.spend import SpendReport
from gpucm.providers.errors import ProviderError, redact

log = logging.getLogger(__name__)

Action = Literal["stop", "start", "restart", "terminate"]
ACTIONS: tuple[Action, ...] = ("stop", "start", "restart", "terminate")


class InstanceError(Exception):
    """An instance action gpucm cannot do, said plainly."""


@dataclass(frozen=True)
class SyncOutcome:
    provider: str
    ok: bool
    instances: int = 0
    error: str | None = None


class InstanceManager:
    def __init__(self, ports: EnginePorts) -> None:
        self.ports = ports
        self.store = ports.store
        # events out: running, interrupted, stopped, terminated (engine/events.py)
        self.events = Events(ports.events, ports.clock) if ports.events is not None else None

    async def _known(self, provider: str) -> dict[str, Instance]:
        if self.events is None:
            return {}
        listed = await self.store.instances.list(providers=[provider], include_terminated=True)
        return {i.id: i for i in listed}

    async def _tell(self, provider: str, before: dict[str, Instance]) -> None:
        if self.events is None or not before:
            return
        after = await self.store.instances.list(providers=[provider], include_terminated=True)
        await self.events.transitions(before, after)

    async def sync(self, providers: list[str] | None = None) -> list[SyncOutcome]:
        """Fetch every provider's instance list (concurrently) into the store."""
        names = [
            p for p in self.ports.providers.provider_names() if providers is None or p in providers
        ]
        tasks = [asyncio.create_task(self._sync_one(n)) for n in names]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            # gather hands back the first error or cancellation while the other syncs may
            # still be rolling back a store write; none may outlive this call. One already
            # cancelled is not cancelled again: that would cut its rollback short.
            pending = [t for t in tasks if not t.done()]
            for task in pending:
                if not task.cancelling():
                    task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def _sync_one(self, name: str) -> SyncOutcome:
        try:
            instances = await self.ports.providers.control(name).list_instances()
        except Exception as exc:  # one provider's failure must not stop the others
            message = redact(str(exc), self._secrets())
            log.warning("instance sync of %s failed: %s", name, message)
            return SyncOutcome(name, ok=False, error=message)
        before = await self._known(name)
        await self.store.instances.replace_provider(name, instances)
        # a machine gpucm launched that failed or never became reachable: its host is
        # remembered, so searches and failover pass it by
        await record_failures(self.store, instances, self.ports.clock())
        await self._tell(name, before)
        return SyncOutcome(name, ok=True, instances=len(instances))

    async def spend(self, instance_ids: Iterable[str] = ()) -> SpendReport:
        """The ledger from this month's start (UTC), and every run of the machines
        named, whenever they billed."""
        now = self.ports.clock()
        intervals = await self.store.spend.intervals(month_start(now), instance_ids=instance_ids)
        return SpendReport(tuple(intervals), now)

    async def list(self, *, include_terminated: bool = False) -> list[Instance]:
        return await self.store.instances.list(include_terminated=include_terminated)

    async def find(self, ref: str) -> Instance:
        """An instance by gpucm id (`runpod:abc`), the provider's id, or its name."""
        instances = await self.list(include_terminated=True)
        for match in (
            [i for i in instances if i.id == ref],
            [i for i in instances if i.provider_id == ref],
            [i for i in instances if i.name == ref and i.status != "terminated"],
        ):
            if len(match) == 1:
                return match[0]
            if len(match) > 1:
                ids = ", ".join(i.id for i in match)
                raise InstanceError(f"{ref!r} matches several instances ({ids}); use an id")
        raise InstanceError(f"no instance {ref!r}; see `gpucm instances list`")

    async def find_or_sync(self, ref: str) -> Instance:
        """By id, provider id or name; if the store does not know it, re-read the
        providers (it may have been launched elsewhere) and look once more."""
        try:
            return await self.find(ref)
        except InstanceError:
            await self.sync()
            return await self.find(ref)

    async def fresh(self, instance: Instance) -> Instance:
        """The instance as its provider says now (the store may be a step behind)."""
        await self.sync([instance.provider])
        return await self.store.instances.get(instance.id) or instance

    async def act(self, instance: Instance, action: Action) -> Instance:
        """Run an action at the provider, then re-read that provider's instances."""
        if instance.status == "terminated":
            raise InstanceError(f"{instance.id} is terminated")
        control = self.ports.providers.control(instance.provider)
        operation = {
            "stop": control.stop,
            "start": control.start,
            "restart": control.restart,
            "terminate": control.terminate,
        }[action]
        try:
            await operation(instance.provider_id)
        except ProviderError as exc:
            raise InstanceError(redact(str(exc), self._secrets())) from None
        await self._sync_one(instance.provider)
        if action == "terminate":
            gone = instance.model_copy(update={"status": "terminated", "raw_status": "terminated"})
            current = await self.store.instances.get(instance.id)
            if current is None or current.status != "terminated":
                await self.store.instances.upsert(gone)
                if self.events is not None:
                    await self.events.transitions({gone.id: current or instance}, [gone])
            return gone
        return await self.store.instances.get(instance.id) or instance

    def _secrets(self) -> Sequence[str]:
        return self.ports.settings().secrets()

    async def logs(self, instance: Instance) -> str:
        try:
            return await self.ports.providers.control(instance.provider).logs(instance.provider_id)
        except ProviderError as exc:
            raise InstanceError(redact(str(exc), self._secrets())) from None


def status_text(instance: Instance) -> str:
    """The status as every front end shows it: "running", "running (spot)" for an
    interruptible machine, "stopped (outbid)" when a higher bid stopped it."""
    if instance.status_reason:
        return f"{instance.status} ({instance.status_reason})"
    if instance.interruptible:
        return f"{instance.status} (spot)"
    return instance.status


def ssh_command(instance: Instance) -> list[str] | None:
    """The system ssh command for a running instance, or None if it has no endpoint."""
    if not instance.ssh_host or instance.status != "running":
        return None
    cmd = ["ssh"]
    if instance.ssh_port and instance.ssh_port != 22:
        cmd += ["-p", str(instance.ssh_port)]
    cmd.append(
        f"{instance.ssh_user}@{instance.ssh_host}" if instance.ssh_user else instance.ssh_host
    )
    return cmd


def is_demo(instance: Instance) -> bool:
    return bool(instance.provider_data.get("demo"))


def provider_label(instance: Instance) -> str:
    return display_name(instance.provider)
