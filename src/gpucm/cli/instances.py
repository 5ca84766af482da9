"""`gpucm instances ...`: the user's machines from scripts and terminals — list, launch
(cli/launch.py, through the one launch flow), stop, start, restart, terminate, ssh,
logs.

Exit statuses: 0 done; 1 refused, declined or failed (nothing launched unless said);
2 bad input (raised as UsageError, printed by cli.main). Data goes to stdout (a table,
or JSON only with --json); messages go to stderr. Environment values are secrets:
they are never printed, and every message is scrubbed of them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Awaitable, Callable

from gpucm.cli.errors import Refused
from gpucm.cli.instance_table import gpu_text, instances_table, print_instance
from gpucm.cli.launch import cmd_launch
from gpucm.cli.output import clean_line, demo_banner, print_json, say
from gpucm.cli.prompt import ask, interactive
from gpucm.domain.models import Instance
from gpucm.domain.provider_names import display_name
from gpucm.engine.confirmed_price import confirmed_prices
from gpucm.engine.instances import Action, InstanceError, is_demo, ssh_command
from gpucm.engine.launch_errors import LaunchError
from gpucm.engine.ports import ProviderNotConfigured
from gpucm.engine.spend import summary_line
from gpucm.providers.errors import ProviderError
from gpucm.services import Services

Handler = Callable[[argparse.Namespace, Services, list[str]], Awaitable[int]]


async def run(ns: argparse.Namespace, services: Services) -> int:
    # Handlers add environment values to `secrets` as they read them, so no message
    # can carry one, whatever raised it.
    secrets = list(services.settings.secrets())
    try:
        return await HANDLERS[ns.instances_command](ns, services, secrets)
    except (Refused, LaunchError, InstanceError, ProviderError, ProviderNotConfigured) as exc:
        say(f"gpucm: {clean_line(str(exc), secrets)}")
        return 1
    finally:
        # the launch's and the sync's events out, to [events] in config.toml
        await services.send_events()


# -- list -----------------------------------------------------------------------------


async def cmd_list(ns: argparse.Namespace, services: Services, secrets: list[str]) -> int:
    manager = services.instances
    for outcome in await manager.sync():
        if not outcome.ok:
            say(
                f"gpucm: could not list instances at {display_name(outcome.provider)} "
                f"({clean_line(outcome.error or 'failed', secrets)}); showing what gpucm "
                "last knew"
            )
    for record in await services.launcher.reconcile():
        if record.state == "done":
            say(
                f"Settled an interrupted launch: request {record.request_id} "
                f"launched {record.instance_id}."
            )
        else:
            say(
                f"Settled an interrupted launch: request {record.request_id} did not launch "
                f"({clean_line(record.error or record.state, secrets)})."
            )
    instances = await manager.list(include_terminated=ns.all)
    report = await manager.spend([i.id for i in instances])
    now = report.at
    if ns.json:
        print_json([i.model_dump(mode="json") for i in instances])
    else:
        demo_banner(services.demo)
        if instances:
            confirmed = await confirmed_prices(services.store.journal, instances)
            print(instances_table(instances, now, report, confirmed))
            # a machine a watch launched says so (the name column gives way at 80)
            for i in instances:
                if i.origin and i.status != "terminated":
                    say(f"{i.id} was launched by {i.origin} (a snipe).")
        else:
            say("No instances. Launch one with `gpucm instances launch` (see --help).")
    say(summary_line(report.summary) + " See `gpucm spend`.")
    return 0


# -- one instance ------------------------------------------------------------------------


def action_handler(action: Action) -> Handler:
    done = {"stop": "Stopped", "start": "Started", "restart": "Restarted"}[action]

    async def handler(ns: argparse.Namespace, services: Services, secrets: list[str]) -> int:
        instance = await services.instances.find_or_sync(ns.ref)
        updated = await services.instances.act(instance, action)
        confirmed = await confirmed_prices(services.store.journal, [updated])
        print_instance(ns, updated, await services.instances.spend([updated.id]), confirmed)
        say(f"{done} {updated.id}; it is {updated.status}.")
        return 0

    return handler


async def cmd_terminate(ns: argparse.Namespace, services: Services, secrets: list[str]) -> int:
    instance = await services.instances.find_or_sync(ns.ref)
    if instance.status == "terminated":
        raise Refused(f"{instance.id} is already terminated")
    if not ns.yes:
        if not interactive():
            raise Refused(
                f"not terminated: pass --yes to terminate {instance.id} without asking "
                "(stdin is not a terminal)"
            )
        name = instance.name or instance.id
        say(
            f"Terminating {instance.id} ({gpu_text(instance)} at "
            f"{display_name(instance.provider)}) deletes it and its disk; this cannot be undone."
        )
        answer = ask(f"Type {name} to terminate it: ")
        if not answer or answer not in (instance.name, instance.id):
            raise Refused(f"not terminated: {instance.id} is untouched")
    gone = await services.instances.act(instance, "terminate")
    confirmed = await confirmed_prices(services.store.journal, [gone])
    print_instance(ns, gone, await services.instances.spend([gone.id]), confirmed)
    say(f"Terminated {gone.id}.")
    return 0


def _no_endpoint(instance: Instance) -> str:
    if instance.status == "provisioning":
        return f"{instance.id} is not running yet (it is starting); try again in a minute"
    if instance.status == "stopped":
        return f"{instance.id} is stopped: `gpucm instances start {instance.id}` first"
    if instance.status in ("terminated", "error"):
        return f"{instance.id} is {instance.status}: there is nothing to connect to"
    return f"{instance.id} is not running yet: it has no SSH endpoint; try again in a minute"


async def cmd_ssh(ns: argparse.Namespace, services: Services, secrets: list[str]) -> int:
    instance = await services.instances.fresh(await services.instances.find_or_sync(ns.ref))
    command = ssh_command(instance)
    if command is None:
        raise Refused(_no_endpoint(instance))
    command += ns.ssh_args
    text = shlex.join(command)
    if ns.print:
        print(text)
        return 0
    if is_demo(instance):
        print(text)
        say("This is a demo machine: there is nothing to connect to, so ssh was not run.")
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    await services.aclose()  # exec does not come back to close the store
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        raise Refused(
            f"could not run ssh ({exc.strerror or exc}); the command is: {text}"
        ) from None


async def cmd_logs(ns: argparse.Namespace, services: Services, secrets: list[str]) -> int:
    instance = await services.instances.find_or_sync(ns.ref)
    text = await services.instances.logs(instance)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


HANDLERS: dict[str, Handler] = {
    "list": cmd_list,
    "launch": cmd_launch,
    "stop": action_handler("stop"),
    "start": action_handler("start"),
    "restart": action_handler("restart"),
    "terminate": cmd_terminate,
    "ssh": cmd_ssh,
    "logs": cmd_logs,
}
