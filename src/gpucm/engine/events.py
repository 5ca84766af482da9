"""Events out: launch started, running, failed, interrupted (a spot machine outbid),
stopped, terminated, budget warning and budget refused, sent to the `[events]` webhook
and command of config.toml.

The engine notices an event where it happens (the launch flow, an instance sync) and
adds it to the store's outbox under a key naming what it is about; the outbox keeps one
row per key, so an event noticed by two processes or again after a restart is sent
once. `EventSender.flush` claims what is pending and delivers it: the payload is JSON
with no secret (environment values are never in it; messages are scrubbed like every
message), a Slack incoming webhook gets `{"text": ...}`, and the command runs with
gpucm's API keys taken out of its environment (engine/alert_delivery.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from gpucm.domain.event_kinds import EventKind as EventKind
from gpucm.domain.models import Instance, InstanceStatus, Offer
from gpucm.domain.provider_names import display_name
from gpucm.engine.alert_delivery import DeliveryResult, clean_env, post_json, run_command_with
from gpucm.engine.launch_options import LaunchOptions
from gpucm.engine.ports import Outbox
from gpucm.store.results import OutboxEvent

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


class PendingEvents(Protocol):
    """The outbox as its sender reads it (store/event_outbox.py)."""

    async def claim(self, limit: int = 50) -> list[OutboxEvent]: ...

    async def settle(self, key: str, *, ok: bool, error: str | None = None) -> None: ...


class EventHooks(Protocol):
    """`[events]` in config.toml, as settings give it."""

    @property
    def command(self) -> str | None: ...

    @property
    def kinds(self) -> tuple[str, ...]: ...

    def webhook(self) -> str | None: ...


def instance_json(instance: Instance) -> dict[str, Any]:
    """What an event says of a machine: no provider data, no environment."""
    return {
        "id": instance.id,
        "provider": instance.provider,
        "name": instance.name,
        "label": instance.label,
        "origin": instance.origin,
        "launched_by": instance.launched_by,
        "status": instance.status,
        "status_reason": instance.status_reason,
        "gpu_model": instance.gpu_model,
        "gpu_count": instance.gpu_count,
        "price_per_hour": instance.price_per_hour,
        "interruptible": instance.interruptible,
        "request_id": instance.request_id,
    }


def launch_json(options: LaunchOptions, offer: Offer, per_hour: float) -> dict[str, Any]:
    """What a launch event says of the request: no environment value, no secret."""
    return {
        "request_id": options.request_id,
        "label": options.label,
        "origin": options.origin,
        "offer": {
            "id": offer.id,
            "provider": offer.provider,
            "gpu_model": offer.gpu_model,
            "gpu_count": offer.gpu_count,
            "price_per_hour": offer.price_per_hour,
            "region": offer.region,
        },
        "all_in_per_hour": per_hour,
    }


def payload(kind: EventKind, message: str, at: datetime, **data: Any) -> dict[str, Any]:
    return {"event": kind, "message": message, "at": at.astimezone(UTC).isoformat(), **data}


class Events:
    """Where the engine says what happened: into the outbox, once per key. A failure
    to record an event is logged and never stops a launch or a sync."""

    def __init__(self, outbox: Outbox, clock: Callable[[], datetime]) -> None:
        self.outbox = outbox
        self.clock = clock

    async def emit(self, key: str, kind: EventKind, message: str, **data: Any) -> bool:
        try:
            return await self.outbox.add(
                f"{kind}:{key}", kind, payload(kind, message, self.clock(), **data)
            )
        except Exception as exc:
            log.warning("could not record the %s event: %s", kind, exc)
            return False

    async def transitions(self, before: Mapping[str, Instance], after: Sequence[Instance]) -> None:
        """The events of an instance sync: each machine gpucm knew whose state changed."""
        for inst in after:
            old = before.get(inst.id)
            if old is None or old.status == inst.status:
                continue
            kind = _transition(old.status, inst)
            if kind is None:
                continue
            # one event per machine, state and run: a machine stopped, started and
            # stopped again says so twice; one stop seen by two processes, once
            run = inst.started_at or old.started_at or inst.created_at or old.created_at
            # a machine is terminated once, whatever run it was on
            stamp = "" if kind == "terminated" or run is None else run.isoformat()
            what = f"{inst.gpu_count or 1}x {inst.gpu_model or inst.gpu_name or 'GPU'}"
            where = display_name(inst.provider)
            said = {
                "running": "is running",
                "interrupted": "was interrupted (outbid): it stopped, keeping its disk",
                "stopped": "stopped",
                "terminated": "was terminated",
            }[kind]
            await self.emit(
                f"{inst.id}:{stamp}",
                kind,
                f"{inst.id} ({what} at {where}) {said}",
                instance=instance_json(inst),
                previous_status=old.status,
            )


def _transition(old: InstanceStatus, new: Instance) -> EventKind | None:
    if new.status == "running":
        return "running"
    if new.status == "terminated":
        return "terminated"
    if new.status == "stopped":
        return "interrupted" if new.status_reason is not None else "stopped"
    return None


class EventSender:
    """Delivers the outbox's pending events to the configured webhook and command."""

    def __init__(
        self,
        outbox: PendingEvents,
        hooks: Callable[[], EventHooks],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.outbox = outbox
        self.hooks = hooks
        self.transport = transport
        self.env = os.environ if env is None else env

    async def flush(self) -> list[DeliveryResult]:
        hooks = self.hooks()
        url = hooks.webhook()
        if not url and not hooks.command:
            return []  # nowhere to send: the events wait in the outbox
        results: list[DeliveryResult] = []
        for event in await self.outbox.claim():
            if event.kind not in hooks.kinds:
                await self.outbox.settle(event.key, ok=True, error="not sent: kind not wanted")
                continue
            sent = await self._send(event.payload, hooks, url)
            results.extend(sent)
            failed = [f"{r.target}: {r.detail}" for r in sent if not r.ok]
            await self.outbox.settle(event.key, ok=not failed, error="; ".join(failed) or None)
        return results

    async def _send(
        self, data: dict[str, Any], hooks: EventHooks, url: str | None
    ) -> list[DeliveryResult]:
        out = []
        message = str(data.get("message", ""))
        if hooks.command:
            env = clean_env(self.env)
            env.update(GPUCM_EVENT=str(data.get("event", "")), GPUCM_EVENT_MESSAGE=message)
            instance = data.get("instance")
            if isinstance(instance, dict) and instance.get("id"):
                env["GPUCM_EVENT_INSTANCE_ID"] = str(instance["id"])
            out.append(await run_command_with(hooks.command, data, env))
        if url:
            out.append(await post_json(url, data, f"gpucm: {message}", transport=self.transport))
        return out
