"""`gpucm hosts ...`: the memory of bad hosts — list what is remembered, forget a host
(or every one), mark a machine you run as bad.

Exit statuses: 0 done; 1 nothing to forget or no machine to mark; 2 bad input.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from gpucm.cli.errors import UsageError
from gpucm.cli.output import print_json, say
from gpucm.cli.table import Column, render_table
from gpucm.domain.hosts import BadHost, clean_reason
from gpucm.engine.host_memory import NoHost, mark_bad
from gpucm.engine.instances import InstanceError
from gpucm.services import Services


def _when(moment: datetime, now: datetime) -> str:
    seconds = (moment - now).total_seconds()
    days, hours = abs(seconds) // 86400, abs(seconds) % 86400 // 3600
    span = (
        f"{int(days)}d {int(hours)}h"
        if days
        else f"{int(hours)}h {int(abs(seconds) % 3600 // 60)}m"
    )
    return f"in {span}" if seconds > 0 else f"expired {span} ago"


def _json(entry: BadHost) -> dict[str, object]:
    return {
        "host": entry.host,
        "provider": entry.provider,
        "kind": entry.kind,
        "reason": entry.reason,
        "recorded_at": entry.recorded_at.isoformat(),
        "expires_at": entry.expires_at.isoformat(),
        "instance_id": entry.instance_id,
        "recorded_by": entry.recorded_by,
    }


async def cmd_hosts(ns: argparse.Namespace, services: Services) -> int:
    hosts = services.store.hosts
    if ns.hosts_command == "list":
        entries = await hosts.list(include_expired=ns.all)
        if ns.json:
            print_json([_json(e) for e in entries])
            return 0
        if not entries:
            say("No bad hosts remembered: every offer shows.")
            return 0
        now = services.store.now()
        columns = [
            Column("HOST", max_width=40, flex=True, keep=1),
            Column("KIND"),
            Column("EXPIRES"),
            Column("REASON", max_width=60, flex=True),
        ]
        rows = [[e.host, e.kind, _when(e.expires_at, now), e.reason] for e in entries]
        print(render_table(columns, rows))
        hidden = sum(not e.expired(now) for e in entries)
        say(
            f"{hidden} host{'s' if hidden != 1 else ''} hidden from searches and failover"
            " (`hosts=all` in a query shows them)"
        )
        return 0
    if ns.hosts_command == "forget":
        if not ns.all and not ns.host:
            raise UsageError("hosts forget: name a HOST (see `gpucm hosts list`) or give --all")
        count = await hosts.forget(None if ns.all else ns.host)
        if not count:
            say(f"gpucm: no bad host {ns.host!r} remembered (see `gpucm hosts list`)")
            return 1
        say(f"Forgot {count} host{'s' if count != 1 else ''}: its offers show again.")
        return 0
    assert ns.hosts_command == "mark"
    reason = clean_reason(ns.reason or "")
    if not reason:
        raise UsageError("hosts mark: give a --reason (one line: what went wrong)")
    try:
        instance = await services.instances.find_or_sync(ns.ref)
        entry = await mark_bad(services.store, instance, reason)
    except (InstanceError, NoHost) as exc:
        say(f"gpucm: {exc}")
        return 1
    days = round((entry.expires_at - entry.recorded_at).total_seconds() / 86400)
    say(f"Marked {entry.host} bad for {days} days: its offers are hidden and failover skips it.")
    return 0
