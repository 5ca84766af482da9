"""`gpucm instances launch`: the CLI's side of the one launch flow (engine/launch_flow.py).

The flow re-quotes the offer and hands the confirmation here: the all-in price and
everything that differs from what the user may expect go to stderr, then it asks on a
terminal, takes --yes, or refuses (stdin is not a terminal). On no capacity, or when
the offer is gone or over the maximum, it lists the equivalents and takes
--failover's first, or the one chosen at a terminal (an equivalent chosen before any
confirmation is confirmed as the offer would have been: --yes or a terminal's y). A
request id seen before prints the instance it launched; one first used for another
request, or spot at a provider without it, is bad input (exit 2).
"""

from __future__ import annotations

import argparse

from gpucm import formatting as fmt
from gpucm.cli.errors import Refused, UsageError
from gpucm.cli.instance_table import instances_table
from gpucm.cli.launch_request import plan
from gpucm.cli.output import clean_line, demo_banner, print_json, say
from gpucm.cli.prompt import ask, interactive
from gpucm.domain.provider_names import display_name
from gpucm.engine.capabilities import availability_meaning
from gpucm.engine.confirmed_price import confirmed_prices
from gpucm.engine.launch_errors import NoCapacity, RequestMismatch
from gpucm.engine.launch_flow import LaunchRefused, NoMatch, NotHonoured, WrongProvider
from gpucm.engine.launch_options import LaunchOptions
from gpucm.engine.launcher import LaunchOutcome, Preflight
from gpucm.services import Services


def confirmation(pre: Preflight, options: LaunchOptions) -> list[str]:
    """What the user agrees to: the offer as quoted now and everything that differs
    from what they may expect."""
    o = pre.offer
    where = f", {o.region}" if o.region else ""
    lines = [f"Launch {o.gpu_count} x {o.gpu_model} at {display_name(o.provider)} ({o.id}{where})"]
    cost = pre.cost
    price = f"  price:     ${cost.per_hour:.3f}/h all-in"
    if cost.estimated:
        price += (
            f" (compute ${cost.compute_per_hour:.3f} + storage "
            f"${cost.storage_per_hour:.3f}, storage estimated)"
        )
    lines.append(price)
    if pre.bid_per_gpu is not None:
        lines.append(f"  rental:    interruptible, bid {fmt.bid(pre.bid_per_gpu)}/GPU·h")
    lines.append(f"  stock:     {o.availability} ({availability_meaning(o.provider)})")
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
        what.append(f"auto-shutdown after {options.auto_terminate_hours:g} h")
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


async def print_launched(
    ns: argparse.Namespace, services: Services, outcome: LaunchOutcome, request_id: str
) -> None:
    instance = outcome.instance
    if ns.json:
        data = instance.model_dump(mode="json")
        data.update(request_id=request_id, reused=outcome.reused)
        print_json(data)
    else:
        confirmed = await confirmed_prices(services.store.journal, [instance])
        print(instances_table([instance], services.clock(), confirmed=confirmed))
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
    confirmed: list[Preflight] = []

    async def confirm(pre: Preflight) -> bool:
        demo_banner(services.demo)
        if p.generated_id:
            say(
                f"Request id {options.request_id} (pass --request-id {options.request_id} "
                "to retry this launch safely)."
            )
        for line in confirmation(pre, options):
            say(line)
        if ns.yes:
            confirmed.append(pre)
            return True
        if not interactive():
            raise Refused(
                "not launched: pass --yes to launch without asking (stdin is not a terminal)"
            )
        if ask("Launch? [y/N] ").lower() not in ("y", "yes"):
            return False
        confirmed.append(pre)
        return True

    async def choose(failure: str, candidates: list[Preflight]) -> Preflight:
        # before any confirmation (the offer is gone or over the maximum) the choice
        # is the launch's consent: it is confirmed like the offer would have been
        why = "the offer has no capacity" if confirmed else "the offer cannot be launched"
        say(f"gpucm: {clean_line(failure, secrets)}")
        if ns.failover:
            say("Failing over:")
            chosen = candidates[0]
        else:
            say("Equivalent offers, cheapest first:")
            for line in candidate_lines(candidates):
                say(line)
            if ns.yes or not interactive():
                raise Refused(
                    f"not launched: {why}; pass --failover to take the first equivalent, "
                    "or --offer ID to pick one"
                )
            answer = ask(f"Launch which instead? [1-{len(candidates)}, Enter to cancel] ")
            if not answer.isdigit() or not 1 <= int(answer) <= len(candidates):
                raise Refused("cancelled: nothing was launched")
            chosen = candidates[int(answer) - 1]
        if not confirmed:
            if not await confirm(chosen):
                raise Refused("cancelled: nothing was launched")
            return chosen
        for line in confirmation(chosen, options):
            say(line)
        return chosen

    # a never-refreshed store gets one round first, so there is an offer to launch
    await services.ensure_data()
    try:
        outcome = await services.launch_flow.run(p.target, options, confirm=confirm, choose=choose)
    except (RequestMismatch, WrongProvider, NotHonoured) as exc:
        raise UsageError(str(exc)) from None
    except LaunchRefused as exc:
        raise Refused(exc.preflight.refusal()) from None
    except (NoMatch, NoCapacity) as exc:
        raise Refused(clean_line(str(exc), secrets)) from None
    if outcome.reused:
        demo_banner(services.demo)
    await print_launched(ns, services, outcome, options.request_id)
    return 0
