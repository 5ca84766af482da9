"""`gpucm history`, `gpucm filters` and `gpucm watch`: the market insight commands.

`gpucm watch` is meant to run for days on a jump box: it refreshes like the TUI does,
checks the watches in filters.toml after every refresh (re-reading the file when it
changes), prints each alert and hands it to the configured command and webhook. Each
alert is delivered once, even across restarts: the store remembers what was said.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from gpucm import formatting as fmt
from gpucm import paths
from gpucm.cli.errors import Refused, UsageError
from gpucm.cli.prompt import ask, interactive
from gpucm.cli.table import Column, render_table
from gpucm.domain.provider_names import PROVIDERS, SHORT_NAMES, canonical_provider
from gpucm.domain.query import QueryError, format_query, parse_query
from gpucm.engine.alert_delivery import DeliveryResult, deliver
from gpucm.engine.watches import Alert, WatchChecker
from gpucm.export import write_csv
from gpucm.launch_template import (
    MAX_COUNT,
    LaunchTemplate,
    TemplateError,
    check_env_name,
    parse_port,
)
from gpucm.presets import (
    BookFile,
    PresetBook,
    PresetError,
    Watch,
    delete_filter,
    delete_watch,
    load_book,
    save_filter,
    save_watch,
    set_armed,
)
from gpucm.services import Services
from gpucm.store.history import HistoryPoint, resolution_for

Command = Callable[[argparse.Namespace, Services], Awaitable[int]]
WATCH_CHANNEL = "watch"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


# -- history ------------------------------------------------------------------------


def _history_rows(points: list[HistoryPoint]) -> list[dict[str, Any]]:
    return [p.as_json() for p in points]


async def cmd_history(ns: argparse.Namespace, services: Services) -> int:
    catalog = services.catalog
    names = catalog.expand(ns.gpu_model)
    known = [n for n in names if catalog.get(n)]
    models = known or list(names)
    providers = []
    for name in ns.provider:
        canonical = canonical_provider(name)
        if canonical is None:
            raise UsageError(f"unknown provider {name!r} (known: {', '.join(PROVIDERS)})")
        providers.append(canonical)
    now = services.clock()
    since = now - ns.since
    resolution = ns.resolution or resolution_for(ns.since)
    points = await services.store.history(
        models, since=since, providers=providers, resolution=resolution
    )
    if not points:
        _say(
            f"no history for {', '.join(models)} since {since:%Y-%m-%d %H:%M} UTC yet:"
            " it builds up with every refresh (gpucm refresh, gpucm watch, gpucm-tui)"
        )
    if services.demo:
        _say("DEMO market: simulated offers (no provider API keys are configured).")
    if ns.json:
        _json(
            {
                "gpu_models": models,
                "since": since.isoformat(),
                "until": now.isoformat(),
                "resolution": resolution,
                "points": _history_rows(points),
            }
        )
        return 0
    if ns.csv:
        write_csv(_history_rows(points), HistoryPoint.JSON_FIELDS, sys.stdout)
        return 0
    if not points:
        return 0
    several = len({p.gpu_model for p in points}) > 1
    columns = [
        Column("Time (UTC)"),
        Column("Provider"),
        *([Column("GPU", flex=True)] if several else []),
        Column("Min $/GPU-h", ">"),
        Column("Avg", ">"),
        Column("Max", ">"),
        Column("Avail", ">"),
        Column("Samples", ">"),
    ]
    rows = [
        [
            p.ts.strftime("%Y-%m-%d %H:%M"),
            SHORT_NAMES.get(p.provider, p.provider),
            *([p.gpu_model] if several else []),
            fmt.price(p.min_gpu_price),
            fmt.price(p.avg_gpu_price),
            fmt.price(p.max_gpu_price),
            fmt.number(p.available, 1).removesuffix(".0"),
            str(p.samples),
        ]
        for p in points
    ]
    print(render_table(columns, rows))
    _say(f"{', '.join(models)}: {len(points)} {resolution} points since {since:%Y-%m-%d %H:%M} UTC")
    return 0


# -- filters --------------------------------------------------------------------------


def _book() -> PresetBook:
    try:
        return load_book()
    except PresetError as exc:
        raise UsageError(str(exc)) from None


async def cmd_filters(ns: argparse.Namespace, services: Services) -> int:
    action = ns.filters_action or "list"
    try:
        if action == "save":
            try:
                text = format_query(parse_query(ns.query))
            except QueryError as exc:
                raise UsageError(f"bad query: {exc}") from None
            save_filter(ns.name, text)
            _say(f"saved filter {ns.name}: {text or '(everything available)'}")
            return 0
        if action == "delete":
            delete_filter(ns.name)
            _say(f"deleted filter {ns.name}")
            return 0
    except PresetError as exc:
        raise UsageError(str(exc)) from None
    book = _book()
    if ns.json:
        _json([{"name": n, "query": q} for n, q in sorted(book.filters.items())])
        return 0
    if not book.filters:
        _say(f"no saved filters yet: gpucm filters save NAME 'QUERY' ({paths.presets_file()})")
        return 0
    columns = [Column("Name"), Column("Query", flex=True, max_width=200)]
    print(render_table(columns, [[n, q] for n, q in sorted(book.filters.items())]))
    return 0


# -- watch ----------------------------------------------------------------------------


def _armable(name: str) -> Watch:
    watch = _book().watches.get(name)
    if watch is None:
        raise UsageError(f"no watch named {name!r}")
    if watch.launch is None:
        raise UsageError(
            f"watch {name} has no launch action: add one with gpucm watch add {name} ..."
            " --launch --max-price-per-hour USD"
        )
    return watch


def _watch_from_args(ns: argparse.Namespace, book: PresetBook) -> Watch:
    if ns.filter_name is not None:
        if ns.filter_name not in book.filters:
            raise UsageError(f"no saved filter named {ns.filter_name!r}")
        text = book.filters[ns.filter_name]
    else:
        try:
            text = format_query(parse_query(ns.query))
        except QueryError as exc:
            raise UsageError(f"bad query: {exc}") from None
    watch = Watch(
        ns.name,
        text,
        filter_name=ns.filter_name,
        price_at_or_under=ns.price_at_or_under,
        min_offers=ns.min_offers,
        new_provider=ns.new_provider,
        launch=_template_from_args(ns),
    )
    if not watch.conditions() and watch.launch is None:
        raise UsageError(
            "a watch needs --price-at-or-under, --min-offers, --new-provider or --launch"
        )
    return watch


_LAUNCH_FLAGS = (
    ("max_price_per_hour", "--max-price-per-hour"),
    ("image", "--image"),
    ("disk", "--disk"),
    ("env", "--env"),
    ("port", "--port"),
    ("ssh_key", "--ssh-key"),
    ("spot", "--spot"),
    ("bid", "--bid"),
)


def _template_from_args(ns: argparse.Namespace) -> LaunchTemplate | None:
    if not ns.launch:
        given = [flag for attr, flag in _LAUNCH_FLAGS if getattr(ns, attr) not in (None, [], False)]
        if given or ns.count != 1:
            raise UsageError(f"{(given or ['--count'])[0]} goes with --launch")
        return None
    if ns.max_price_per_hour is None:
        raise UsageError("--launch needs --max-price-per-hour: the most it may launch at, all-in")
    if ns.bid is not None and not ns.spot:
        raise UsageError("--bid goes with --spot")
    if ns.count > MAX_COUNT:
        raise UsageError(f"--count: at most {MAX_COUNT} machines per watch")
    try:
        return LaunchTemplate(
            max_price_per_hour=ns.max_price_per_hour,
            image=ns.image,
            disk_gb=ns.disk,
            env=tuple(dict.fromkeys(check_env_name(n) for n in ns.env)),
            ports=tuple(parse_port(p) for p in ns.port),
            ssh_key=ns.ssh_key,
            interruptible=ns.spot,
            bid_per_gpu=ns.bid,
            count=ns.count,
        )
    except TemplateError as exc:
        raise UsageError(str(exc)) from None


def _confirm_arming(ns: argparse.Namespace, watch: Watch) -> str:
    """The confirmation of a snipe: the max $/h, and that it will launch without
    asking. Returns the arming's time; raises Refused when not confirmed."""
    launch = watch.launch
    assert launch is not None
    _say(
        f"Arming {watch.name}: when {watch.query_text or 'any offer'} matches, gpucm "
        f"LAUNCHES WITHOUT ASKING: {launch.describe()}. It launches once, then disarms "
        f"(gpucm watch disarm {watch.name} to stop it)."
    )
    _say(f"  maximum: ${launch.max_price_per_hour:.3f}/h all-in per machine")
    if not ns.yes:
        if not interactive():
            raise Refused("not armed: pass --yes to arm it (stdin is not a terminal)")
        if ask("Arm it? [y/N] ").lower() not in ("y", "yes"):
            raise Refused("not armed")
    return armed_stamp()


def armed_stamp() -> str:
    # microseconds: re-arming within a second is a new arming with new request ids
    return datetime.now(UTC).isoformat(timespec="microseconds")


async def _check_and_deliver(
    services: Services,
    checker: WatchChecker,
    book: PresetBook,
    *,
    as_json: bool,
    may_launch: bool,
) -> list[Alert]:
    alerts = await checker.check(book)
    settings = services.settings
    for alert in alerts:
        _print_alert(services, alert.as_json(), alert.message, as_json=as_json)
        _failures(
            await deliver(alert, command=settings.watch_command, webhook_url=settings.webhook_url)
        )
    armed = [w for w in book.watches.values() if w.armed]
    if armed and may_launch:
        await _fire(services, armed, as_json=as_json)
    await services.send_events()  # a snipe's launch events, to [events] in config.toml
    return alerts


async def _fire(services: Services, armed: list[Watch], *, as_json: bool) -> None:
    # the launch path loads only when a watch is armed (`gpucm history` never needs it)
    from gpucm.engine.snipe import deliver_snipe

    settings = services.settings
    for snipe in await services.sniper().fire_all(armed):
        _print_alert(services, snipe.as_json(), snipe.message, as_json=as_json)
        _failures(
            await deliver_snipe(
                snipe, command=settings.watch_command, webhook_url=settings.webhook_url
            )
        )


def _print_alert(services: Services, data: dict[str, Any], message: str, *, as_json: bool) -> None:
    stamp = services.clock().strftime("%Y-%m-%d %H:%M:%S")
    if as_json:
        print(json.dumps({"at": stamp, **data}), flush=True)
    else:
        print(f"{stamp}  {message}", flush=True)


def _failures(results: list[DeliveryResult]) -> None:
    for result in results:
        if not result.ok:
            _say(f"gpucm watch: {result.target} failed: {result.detail}")


async def cmd_watch(ns: argparse.Namespace, services: Services) -> int:
    action = ns.watch_action
    try:
        if action == "add":
            watch = _watch_from_args(ns, _book())
            if watch.launch is not None:
                stamp = _confirm_arming(ns, watch)
                watch = replace(watch, launch=replace(watch.launch, armed=stamp))
            save_watch(watch)
            _say(f"watching {watch.name}: {watch.describe()}")
            return 0
        if action == "arm":
            watch = _armable(ns.name)
            set_armed(watch.name, _confirm_arming(ns, watch))
            _say(f"watching {watch.name}: {_book().watches[watch.name].describe()}")
            return 0
        if action == "disarm":
            _armable(ns.name)
            changed = set_armed(ns.name, None)
            _say(f"{ns.name}: disarmed" if changed else f"{ns.name}: was not armed")
            return 0
        if action == "delete":
            delete_watch(ns.name)
            await services.store.alerts.forget(ns.name)
            _say(f"deleted watch {ns.name}")
            return 0
    except PresetError as exc:
        raise UsageError(str(exc)) from None
    except Refused as exc:
        _say(f"gpucm: {exc}")
        return 1
    if action == "reset":
        cleared = await services.store.alerts.forget(ns.name)
        _say(f"forgot {cleared} alert(s){' of ' + ns.name if ns.name else ''}")
        return 0
    book = _book()
    if action == "list":
        if ns.json:
            _json(
                [
                    {
                        "name": w.name,
                        "query": w.query_text,
                        "conditions": w.conditions(),
                        "launch": w.launch.to_toml() if w.launch else None,
                        "armed": w.armed,
                    }
                    for w in book.watches.values()
                ]
            )
            return 0
        columns = [
            Column("Name"),
            Column("Filter", flex=True),
            Column("Conditions", flex=True),
            Column("Launch", flex=True),
        ]
        rows = [
            [
                w.name,
                w.filter_name or w.query_text or "(every offer)",
                ", ".join(w.conditions()) or "-",
                _launch_cell(w),
            ]
            for w in book.watches.values()
        ]
        print(render_table(columns, rows))
        return 0
    if not book.watches:
        raise UsageError(
            "no watches yet: add one with gpucm watch add NAME --query 'gpu=\"RTX 4090\"'"
            " --price-at-or-under 0.35"
        )
    return await _run_watches(ns, services)


def _launch_cell(watch: Watch) -> str:
    if watch.launch is None:
        return "-"
    state = "ARMED" if watch.armed else "disarmed"
    return f"{state}: {watch.launch.count} x <= ${watch.launch.max_price_per_hour:.3f}/h"


async def _run_watches(ns: argparse.Namespace, services: Services) -> int:
    checker = WatchChecker(services.store, WATCH_CHANNEL)
    books = BookFile(paths.presets_file(), on_error=lambda m: _say(f"gpucm watch: {m}"))
    if services.demo:
        _say("DEMO market: simulated offers (no provider API keys are configured).")
    if ns.once:
        outcomes = await services.refresh()
        for outcome in outcomes:
            if not outcome.ok:
                _say(f"gpucm watch: {outcome.summary()}")
        # in a team only the refresher fires armed watches: this process, if it ran
        # the round itself
        ran_it = services.team is None or all(not o.by for o in outcomes)
        _not_the_refresher(services, books.current(), ran_it)
        await _check_and_deliver(
            services, checker, books.current(), as_json=ns.json, may_launch=ran_it
        )
        return 0
    names = ", ".join(books.current().watches)
    _say(f"gpucm watch: watching {names}; Ctrl-C to stop")
    lock = asyncio.Lock()  # one check at a time: several providers land together

    async def landed(outcome: Any) -> None:
        if not outcome.ok:
            _say(f"gpucm watch: {outcome.summary()}")
            return
        async with lock:
            await _check_and_deliver(
                services, checker, books.current(), as_json=ns.json, may_launch=leading()
            )

    def leading() -> bool:
        return services.team is None or services.team.leading

    await _check_and_deliver(
        services, checker, books.current(), as_json=ns.json, may_launch=leading()
    )
    scheduler = services.scheduler(on_outcome=landed)
    try:
        await scheduler.run()
    finally:
        await scheduler.stop()
    return 0


def _not_the_refresher(services: Services, book: PresetBook, ran_it: bool) -> None:
    if not ran_it and any(w.armed for w in book.watches.values()):
        _say(
            "gpucm watch: armed watches launch only in the team's refresher, and another"
            " process refreshed this round: nothing was launched here"
        )


COMMANDS: dict[str, Command] = {
    "history": cmd_history,
    "filters": cmd_filters,
    "watch": cmd_watch,
}
