"""Filling the memory of bad hosts (domain/hosts.py, store.hosts): what the user marks
bad, and what gpucm sees go wrong with a machine it launched.

Recorded automatically, after each instance sync, for a machine gpucm launched (it has
a request id):

- `launch_failed`: the provider reports it in error before it ever ran;
- `unreachable`: still provisioning UNREACHABLE_AFTER after it was created, with no
  SSH address.

Each failure of one instance is recorded once, whatever the number of syncs that see
it. A capacity failure at launch is not recorded: no machine was at fault, and
failover moves on by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from gpucm.domain.hosts import UNREACHABLE_AFTER, BadHost, HostKind, instance_host
from gpucm.domain.models import Instance
from gpucm.engine.ports import LaunchStore

log = logging.getLogger(__name__)


class NoHost(Exception):
    """Nothing names the machine an instance runs on."""


def failure_of(instance: Instance, now: datetime) -> tuple[HostKind, str] | None:
    """What went wrong with a machine gpucm launched, if anything did."""
    if instance.request_id is None:
        return None
    if instance.status == "error" and instance.started_at is None:
        said = instance.raw_status or "error"
        return "launch_failed", f"went to {said} before it ran"
    created = instance.created_at
    if (
        instance.status == "provisioning"
        and created is not None
        and instance.ssh_host is None
        and now - created >= UNREACHABLE_AFTER
    ):
        minutes = int((now - created).total_seconds() // 60)
        return "unreachable", f"not reachable after {minutes} min of provisioning"
    return None


async def host_of(store: LaunchStore, instance: Instance) -> str | None:
    """The host key of an instance: the provider's machine, else the offer it was
    launched from (the instance's, or its launch journal's)."""
    offer_id = None
    if instance.offer_id is None and instance.request_id is not None:
        record = await store.journal.get(instance.request_id)
        offer_id = record.offer_id if record is not None else None
    return instance_host(instance, offer_id)


async def mark_bad(store: LaunchStore, instance: Instance, reason: str) -> BadHost:
    """The user says this machine is bad: hide its host for the default time."""
    host = await host_of(store, instance)
    if host is None:
        raise NoHost(f"{instance.id}: its provider names no machine and gpucm has no offer for it")
    entry = await store.hosts.record(
        host, instance.provider, "marked_bad", reason or "marked bad", instance_id=instance.id
    )
    assert entry is not None  # recorded unconditionally (once=False)
    return entry


async def record_failures(
    store: LaunchStore, instances: Iterable[Instance], now: datetime
) -> list[BadHost]:
    """Record the machines gpucm launched that failed (module doc); returns the new
    entries."""
    recorded: list[BadHost] = []
    for instance in instances:
        failure = failure_of(instance, now)
        if failure is None:
            continue
        host = await host_of(store, instance)
        if host is None:
            continue
        kind, reason = failure
        entry = await store.hosts.record(
            host, instance.provider, kind, reason, instance_id=instance.id, once=True
        )
        if entry is not None:
            log.info("remembered %s as a bad host (%s: %s)", host, kind, reason)
            recorded.append(entry)
    return recorded
