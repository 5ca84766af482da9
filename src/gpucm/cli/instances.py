"""`gpucm instances ...`: the user's machines from scripts and terminals.

The launch path spends money, so it is deliberate: the offer is re-quoted and the
all-in price shown (stderr) before anything happens; a problem refuses with one line
and exit status 1; without --yes it asks on a terminal and refuses otherwise; and a
request id seen before prints the instance it launched instead of launching again.

Exit statuses: 0 done; 1 refused, declined or failed (nothing launched unless said);
2 bad input (raised as UsageError, printed by cli.main). Data goes to stdout (a table,
or JSON only with --json); messages go to stderr. Environment values are secrets:
they are never printed, and every message is scrubbed of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import re
import shlex
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gpucm import formatting as fmt
from gpucm.cli.commands import canonical_providers, demo_banner, filter_query, print_json, say
from gpucm.cli.errors import UsageError
from gpucm.cli.table import Column, render_table
from gpucm.domain.models import Instance, LaunchRequest, Offer, SearchQuery
from gpucm.domain.provider_names import DISPLAY_NAMES, canonical_provider
from gpucm.engine.instances import Action, InstanceError, is_demo, ssh_command
from gpucm.engine.launcher import (
    LaunchError,
    LaunchOptions,
    LaunchOutcome,
    NoCapacity,
    Preflight,
    new_request_id,
    options_from_mapping,
)
from gpucm.engine.spend import accrued, spend_line
from gpucm.input_checks import InputError, parse_json
from gpucm.providers.errors import ProviderError, redact
from gpucm.services import ProviderNotConfigured, Services

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# filter flags that choose an offer (namespace attribute, flag) — --provider, --min-ram
# and --min-storage also go with --offer (the provider of its id; resource minimums)
CHOOSING_FILTERS = (
    ("gpu_model", "--gpu-model"),
    ("gpu_category", "--gpu-category"),
    ("min_gpu_count", "--min-gpu-count"),
    ("min_price", "--min-price"),
    ("max_price", "--max-price"),
    ("min_gpu_memory", "--min-gpu-memory"),
    ("min_cuda", "--min-cuda"),
    ("region", "--region"),
    ("min_performance", "--min-performance"),
    ("min_reliability", "--min-reliability"),
    ("query", "--query"),
)


class Refused(Exception):
    """Not done, for a reason the user can act on: one line, exit status 1."""


Handler = Callable[[argparse.Namespace, Services, list[str]], Awaitable[int]]


async def run(ns: argparse.Namespace, services: Services) -> int:
    # Handlers add environment values to `secrets` as they read them, so no message
    # can carry one, whatever raised it.
    secrets = list(services.settings.secrets())
    try:
        return await HANDLERS[ns.instances_command](ns, services, secrets)
    except (Refused, LaunchError, InstanceError, ProviderError, ProviderNotConfigured) as exc:
        say(f"gpucm: {_clean(str(exc), secrets)}")
        return 1


def _clean(text: str, secrets: list[str]) -> str:
    """One line, with no secret in it (of 4 characters or more: shorter ones would
    scrub ordinary words, and are no secret)."""
    longest_first: list[str] = sorted(secrets, key=len, reverse=True)
    return " ".join(redact(text, longest_first).split())


def _provider(name: str) -> str:
    return DISPLAY_NAMES.get(name, name)


# -- prompting ------------------------------------------------------------------------


def interactive() -> bool:
    """Whether a person can answer: stdin is a terminal."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def ask(prompt: str) -> str:
    """A line from the person at the terminal; the prompt goes to stderr (stdout carries
    data). End of input reads as no answer."""
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        sys.stderr.write("\n")
    return line.strip()


# -- the instance table -----------------------------------------------------------------


def gpu_text(instance: Instance) -> str:
    model = instance.gpu_model or instance.gpu_name
    if not model:
        return "-"
    return f"{instance.gpu_count or 1}x {model}"


def ssh_text(instance: Instance) -> str:
    if not instance.ssh_host or instance.status != "running":
        return "-"
    user = f"{instance.ssh_user}@" if instance.ssh_user else ""
    return f"{user}{instance.ssh_host}:{instance.ssh_port or 22}"


def uptime(instance: Instance, now: datetime) -> str:
    if instance.status != "running" or instance.started_at is None:
        return "-"
    return fmt.duration(max(0.0, (now - instance.started_at).total_seconds()))


def instances_table(instances: list[Instance], now: datetime) -> str:
    # At 80 columns NAME, then GPU, then SSH give way (--json and `ssh --print` have
    # them whole); the ID never does: it is what the other commands take.
    columns = [
        Column("ID", max_width=60),
        Column("NAME", min_width=4, max_width=30, flex=True, keep=0),
        Column("GPU", min_width=5, max_width=20, flex=True, keep=1),
        Column("STATUS", max_width=12),
        Column("UPTIME", ">"),
        Column("$/H", ">"),
        Column("ACCRUED", ">"),
        Column("SSH", min_width=7, max_width=45, flex=True, keep=2),
    ]
    rows = [
        [
            i.id,
            i.name or "-",
            gpu_text(i),
            i.status,
            uptime(i, now),
            fmt.price(i.price_per_hour),
            fmt.price(accrued(i, now)) if i.status != "terminated" else "-",
            ssh_text(i),
        ]
        for i in instances
    ]
    return render_table(columns, rows)


def print_instance(ns: argparse.Namespace, instance: Instance, now: datetime) -> None:
    if getattr(ns, "json", False):
        print_json(instance.model_dump(mode="json"))
    else:
        print(instances_table([instance], now))


# -- list -----------------------------------------------------------------------------


async def cmd_list(ns: argparse.Namespace, services: Services, secrets: list[str]) -> int:
    manager = services.instances
    for outcome in await manager.sync():
        if not outcome.ok:
            say(
                f"gpucm: could not list instances at {_provider(outcome.provider)} "
                f"({_clean(outcome.error or 'failed', secrets)}); showing what gpucm last knew"
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
                f"({_clean(record.error or record.state, secrets)})."
            )
    instances = await manager.list(include_terminated=ns.all)
    now = services.clock()
    if ns.json:
        print_json([i.model_dump(mode="json") for i in instances])
    else:
        demo_banner(services)
        if instances:
            print(instances_table(instances, now))
        else:
            say("No instances. Launch one with `gpucm instances launch` (see --help).")
    say(spend_line([i for i in instances if i.status != "terminated"], now))
    return 0


# -- launch: reading the request --------------------------------------------------------


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{what}: cannot read {path}: {reason}") from None


def _read_stdin(what: str, *, secret: bool = False) -> str:
    """All of stdin; a secret typed at a terminal is asked for without echo."""
    try:
        if secret and interactive():
            return getpass.getpass(f"{what} (not echoed): ", stream=sys.stderr)
        return sys.stdin.read()
    except (OSError, EOFError) as exc:
        raise UsageError(f"{what}: cannot read stdin: {exc}") from None


def _strip_newline(text: str) -> str:
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def environment(items: list[str], *, stdin_taken: bool) -> list[tuple[str, str]]:
    """--env values: KEY=VALUE, KEY=@FILE (the file's text), KEY=- (stdin), KEY=@@x (@x).
    No message ever repeats a value."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError("--env: expected KEY=VALUE, KEY=@FILE or KEY=- (no '=' given)")
        if not ENV_NAME.match(key):
            raise UsageError(
                "--env: a variable name is letters, digits and _, not starting with a digit"
            )
        if value == "-":
            if stdin_taken:
                raise UsageError(f"--env {key}=-: stdin is already read for another value")
            stdin_taken = True
            value = _strip_newline(_read_stdin(f"--env {key}", secret=True))
        elif value.startswith("@@"):
            value = value[1:]
        elif value.startswith("@"):
            value = _strip_newline(_read_text(value[1:], f"--env {key}"))
        result[key] = value
    return list(result.items())


def read_body(source: str) -> dict[str, Any]:
    """The original API's create body from a file (or stdin), as a JSON object."""
    what = f"--from-json {source}"
    text = _read_stdin("--from-json") if source == "-" else _read_text(source, "--from-json")
    try:
        data = parse_json(text)
    except InputError as exc:
        raise UsageError(f"{what}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(
            f"{what}: expected a JSON object, the create body "
            "(provider, offer_id, image, label, environment, ports, resources)"
        )
    return data


def validate_body(data: dict[str, Any], source: str) -> LaunchRequest:
    try:
        return LaunchRequest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]  # never err["input"]: it may be a secret
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise UsageError(f"--from-json {source}: {field}: {err['msg']}") from None


def _given(ns: argparse.Namespace, attr: str) -> bool:
    return getattr(ns, attr, None) not in (None, [], "")


def _check_choice(ns: argparse.Namespace) -> str:
    """How the offer is chosen: 'offer', 'json' or 'filters' (one of them)."""
    filters = [flag for attr, flag in CHOOSING_FILTERS if _given(ns, attr)]
    if ns.offer and ns.from_json:
        raise UsageError("give --offer or --from-json, not both")
    if ns.offer or ns.from_json:
        flag = "--offer" if ns.offer else "--from-json"
        if filters:
            raise UsageError(f"{flag} names the offer: drop {filters[0]}")
        if ns.from_json and ns.provider:
            raise UsageError("--from-json takes the provider from the file: drop --provider")
        if ns.offer and len(ns.provider) > 1:
            raise UsageError("--offer takes one --provider")
        return "offer" if ns.offer else "json"
    if not filters and not (ns.provider or ns.min_ram or ns.min_storage or ns.min_gpus):
        raise UsageError(
            "say which offer: --offer ID, filters such as --gpu-model and --max-price "
            "(the cheapest match), or --from-json FILE"
        )
    return "filters"


def with_flags(
    options: LaunchOptions, ns: argparse.Namespace, env: list[tuple[str, str]]
) -> LaunchOptions:
    """The flags given on the command line, over `options` (from a body or defaults)."""
    update: dict[str, Any] = {}
    for attr, field in (
        ("image", "image"),
        ("label", "label"),
        ("ssh_key", "ssh_key_name"),
        ("max_price_per_hour", "max_price_per_hour"),
        ("auto_terminate_hours", "auto_terminate_hours"),
        ("min_ram", "min_ram_gb"),
        ("min_storage", "min_storage_gb"),
        ("min_gpus", "min_gpus"),
        ("hours", "hours"),
        ("disk", "disk_gb"),
    ):
        if getattr(ns, attr) is not None:
            update[field] = getattr(ns, attr)
    if ns.disk is None and ns.min_storage is not None and options.disk_gb is None:
        update["disk_gb"] = ns.min_storage  # as the create body's resources.min_storage_gb
    if env:
        update["environment"] = tuple({**dict(options.environment), **dict(env)}.items())
    if ns.port:
        update["ports"] = tuple(ns.port)
    return dataclasses.replace(options, **update)


def _request_id(ns: argparse.Namespace) -> str | None:
    if ns.request_id is None:
        return None
    rid: str = ns.request_id.strip()
    if not rid or len(rid) > 200 or any(not c.isprintable() for c in rid):
        raise UsageError("--request-id: 1 to 200 printable characters")
    return rid


@dataclasses.dataclass(frozen=True)
class Plan:
    """What the command line asks to launch, before the store is read."""

    options: LaunchOptions
    generated_id: bool
    offer_ref: str | None = None  # an offer id (gpucm's or the provider's)
    provider: str | None = None
    query: SearchQuery | None = None


def plan(ns: argparse.Namespace, secrets: list[str]) -> Plan:
    choice = _check_choice(ns)
    rid = _request_id(ns)
    body: dict[str, Any] | None = None
    if choice == "json":
        body = read_body(ns.from_json)
    env = environment(ns.env, stdin_taken=ns.from_json == "-")
    secrets.extend(v for _, v in env)
    if body is not None:
        req = validate_body(body, ns.from_json)
        secrets.extend(req.environment.values())
        provider = canonical_provider(req.provider)
        if provider is None:
            raise UsageError(f"--from-json {ns.from_json}: unknown provider {req.provider!r}")
        options = with_flags(options_from_mapping(body, request_id=rid), ns, env)
        return Plan(
            options,
            generated_id=rid is None and not req.request_id,
            offer_ref=req.offer_id,
            provider=provider,
        )
    options = with_flags(LaunchOptions(request_id=rid or new_request_id(), label="gpucm"), ns, env)
    if choice == "offer":
        providers = canonical_providers(ns.provider)
        return Plan(
            options,
            generated_id=rid is None,
            offer_ref=ns.offer,
            provider=providers[0] if providers else None,
        )
    query = filter_query(ns)
    if ns.min_gpus and query.min_gpu_count is None:
        # the launch's minimum is a filter too: the cheapest offer with too few GPUs
        # would only be refused
        query = SearchQuery.model_validate(
            {**query.model_dump(exclude_defaults=True), "min_gpu_count": ns.min_gpus}
        )
    if options.max_price_per_hour is None and query.max_price is not None:
        # the guard follows the search: "under $3/h" holds all-in, at launch time
        options = dataclasses.replace(options, max_price_per_hour=query.max_price)
    return Plan(options, generated_id=rid is None, query=query)


# -- launch: the money path ------------------------------------------------------------


async def choose_offer(services: Services, p: Plan) -> Offer:
    launcher = services.launcher
    if p.query is not None:
        try:
            return await launcher.cheapest(p.query)
        except LaunchError:
            raise Refused(
                "no available offer matches; loosen a filter (see `gpucm offers`)"
            ) from None
    assert p.offer_ref is not None
    offer = await launcher.resolve_offer(p.offer_ref, p.provider)
    if p.provider and offer.provider != p.provider:
        raise UsageError(f"offer {offer.id} is at {offer.provider}, not {p.provider}")
    return offer


def confirmation(pre: Preflight, options: LaunchOptions) -> list[str]:
    """What the user agrees to: the offer as quoted now and everything that differs
    from what they may expect."""
    o = pre.offer
    where = f", {o.region}" if o.region else ""
    lines = [f"Launch {o.gpu_count} x {o.gpu_model} at {_provider(o.provider)} ({o.id}{where})"]
    cost = pre.cost
    price = f"  price:     ${cost.per_hour:.3f}/h all-in"
    if cost.estimated:
        price += (
            f" (compute ${cost.compute_per_hour:.3f} + storage "
            f"${cost.storage_per_hour:.3f}, storage estimated)"
        )
    lines.append(price)
    hours = f"{pre.hours:g} h"
    if options.hours is None and options.auto_terminate_hours is None:
        hours += " (--hours N for longer)"
    lines.append(f"  estimate:  ${pre.estimated_cost:.2f} for {hours}")
    if options.max_price_per_hour is not None:
        lines.append(f"  maximum:   ${options.max_price_per_hour:.3f}/h")
    what = [f"image {options.image}" if options.image else "the provider's default image"]
    if options.environment:
        what.append("env " + ", ".join(k for k, _ in options.environment) + " (values hidden)")
    if options.ports:
        what.append("ports " + ", ".join(f"{p}/{proto}" for p, proto in options.ports))
    if options.disk_gb:
        what.append(f"{options.disk_gb:g} GB disk")
    if options.auto_terminate_hours:
        what.append(f"auto-terminate after {options.auto_terminate_hours:g} h")
    lines.append(f"  runs:      {'; '.join(what)}")
    lines += [f"  changed:   {c}" for c in pre.changes()]
    lines += [f"  ignored:   {u}" for u in pre.unsupported]
    lines += [f"  warning:   {w}" for w in pre.warnings]
    return lines


def candidate_lines(candidates: list[Preflight]) -> list[str]:
    out = []
    for n, c in enumerate(candidates, 1):
        o = c.offer
        out.append(
            f"  {n}. {o.id}  {o.gpu_count} x {o.gpu_model}  ${c.cost.per_hour:.3f}/h all-in"
            + (f"  {o.region}" if o.region else "")
        )
    return out


async def launch_until_placed(
    ns: argparse.Namespace,
    services: Services,
    pre: Preflight,
    options: LaunchOptions,
    secrets: list[str],
) -> LaunchOutcome:
    """Launch `pre`; on a capacity failure fail over to an equivalent (with --failover,
    or as chosen at a terminal), always under the same request id."""

    async def choose(failure: str, candidates: list[Preflight]) -> Preflight:
        say(f"gpucm: {_clean(failure, secrets)}")
        if ns.failover:
            say("Failing over:")
            chosen = candidates[0]
        else:
            say("Equivalent offers, cheapest first:")
            for line in candidate_lines(candidates):
                say(line)
            if ns.yes or not interactive():
                raise Refused(
                    "not launched: the offer has no capacity; pass --failover to take the "
                    "first equivalent, or --offer ID to pick one"
                )
            answer = ask(f"Launch which instead? [1-{len(candidates)}, Enter to cancel] ")
            if not answer.isdigit() or not 1 <= int(answer) <= len(candidates):
                raise Refused("cancelled: nothing was launched")
            chosen = candidates[int(answer) - 1]
        for line in confirmation(chosen, options):
            say(line)
        return chosen

    try:
        outcome, _ = await services.launcher.launch_failing_over(pre, options, choose)
    except NoCapacity as exc:
        raise Refused(_clean(str(exc), secrets)) from None
    return outcome


def print_launched(
    ns: argparse.Namespace, services: Services, outcome: LaunchOutcome, request_id: str
) -> None:
    instance = outcome.instance
    if ns.json:
        data = instance.model_dump(mode="json")
        data.update(request_id=request_id, reused=outcome.reused)
        print_json(data)
    else:
        print(instances_table([instance], services.clock()))
    if outcome.reused:
        say(
            f"Request {request_id} already launched {instance.id}: nothing new was created "
            f"(status {instance.status})."
        )
    else:
        say(
            f"Launched {instance.id} (request {request_id}); it is {instance.status}. "
            "See `gpucm instances list`."
        )


async def cmd_launch(ns: argparse.Namespace, services: Services, secrets: list[str]) -> int:
    p = plan(ns, secrets)
    options = p.options
    launcher = services.launcher
    await launcher.reconcile()
    previous = await services.launcher.existing(options.request_id)
    if previous is not None:
        demo_banner(services)
        print_launched(ns, services, previous, options.request_id)
        return 0
    await services.ensure_data()
    offer = await choose_offer(services, p)
    pre = await launcher.preflight(offer, options)
    if not pre.ok:
        raise Refused(pre.refusal())
    demo_banner(services)
    if p.generated_id:
        say(
            f"Request id {options.request_id} (pass --request-id {options.request_id} "
            "to retry this launch safely)."
        )
    for line in confirmation(pre, options):
        say(line)
    if not ns.yes:
        if not interactive():
            raise Refused(
                "not launched: pass --yes to launch without asking (stdin is not a terminal)"
            )
        if ask("Launch? [y/N] ").lower() not in ("y", "yes"):
            raise Refused("cancelled: nothing was launched")
    outcome = await launch_until_placed(ns, services, pre, options, secrets)
    print_launched(ns, services, outcome, options.request_id)
    return 0


# -- one instance ------------------------------------------------------------------------


def action_handler(action: Action) -> Handler:
    done = {"stop": "Stopped", "start": "Started", "restart": "Restarted"}[action]

    async def handler(ns: argparse.Namespace, services: Services, secrets: list[str]) -> int:
        instance = await services.instances.find_or_sync(ns.ref)
        updated = await services.instances.act(instance, action)
        print_instance(ns, updated, services.clock())
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
            f"{_provider(instance.provider)}) deletes it and its disk; this cannot be undone."
        )
        answer = ask(f"Type {name} to terminate it: ")
        if not answer or answer not in (instance.name, instance.id):
            raise Refused(f"not terminated: {instance.id} is untouched")
    gone = await services.instances.act(instance, "terminate")
    print_instance(ns, gone, services.clock())
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
