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
from typing import Any

from gpucm import formatting as fmt
from gpucm import paths
from gpucm.cli.errors import UsageError
from gpucm.cli.table import Column, render_table
from gpucm.domain.provider_names import PROVIDERS, SHORT_NAMES, canonical_provider
from gpucm.domain.query import QueryError, format_query, parse_query
from gpucm.engine.alert_delivery import deliver
from gpucm.engine.watches import Alert, WatchChecker
from gpucm.export import write_csv
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
    )
    if not watch.conditions():
        raise UsageError("a watch needs --price-at-or-under, --min-offers or --new-provider")
    return watch


async def _check_and_deliver(
    services: Services, checker: WatchChecker, book: PresetBook, *, as_json: bool
) -> list[Alert]:
    alerts = await checker.check(book)
    settings = services.settings
    for alert in alerts:
        stamp = services.clock().strftime("%Y-%m-%d %H:%M:%S")
        if as_json:
            print(json.dumps({"at": stamp, **alert.as_json()}), flush=True)
        else:
            print(f"{stamp}  {alert.message}", flush=True)
        for result in await deliver(
            alert, command=settings.watch_command, webhook_url=settings.webhook_url
        ):
            if not result.ok:
                _say(f"gpucm watch: {result.target} failed: {result.detail}")
    return alerts


async def cmd_watch(ns: argparse.Namespace, services: Services) -> int:
    action = ns.watch_action
    try:
        if action == "add":
            watch = _watch_from_args(ns, _book())
            save_watch(watch)
            _say(f"watching {watch.name}: {watch.describe()}")
            return 0
        if action == "delete":
            delete_watch(ns.name)
            await services.store.alerts.forget(ns.name)
            _say(f"deleted watch {ns.name}")
            return 0
    except PresetError as exc:
        raise UsageError(str(exc)) from None
    if action == "reset":
        cleared = await services.store.alerts.forget(ns.name)
        _say(f"forgot {cleared} alert(s){' of ' + ns.name if ns.name else ''}")
        return 0
    book = _book()
    if action == "list":
        if ns.json:
            _json(
                [
                    {"name": w.name, "query": w.query_text, "conditions": w.conditions()}
                    for w in book.watches.values()
                ]
            )
            return 0
        columns = [Column("Name"), Column("Filter", flex=True), Column("Conditions", flex=True)]
        rows = [
            [w.name, w.filter_name or w.query_text, ", ".join(w.conditions())]
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


async def _run_watches(ns: argparse.Namespace, services: Services) -> int:
    checker = WatchChecker(services.store, WATCH_CHANNEL)
    books = BookFile(paths.presets_file(), on_error=lambda m: _say(f"gpucm watch: {m}"))
    if services.demo:
        _say("DEMO market: simulated offers (no provider API keys are configured).")
    if ns.once:
        for outcome in await services.refresh():
            if not outcome.ok:
                _say(f"gpucm watch: {outcome.summary()}")
        await _check_and_deliver(services, checker, books.current(), as_json=ns.json)
        return 0
    names = ", ".join(books.current().watches)
    _say(f"gpucm watch: watching {names}; Ctrl-C to stop")
    lock = asyncio.Lock()  # one check at a time: several providers land together

    async def landed(outcome: Any) -> None:
        if not outcome.ok:
            _say(f"gpucm watch: {outcome.summary()}")
            return
        async with lock:
            await _check_and_deliver(services, checker, books.current(), as_json=ns.json)

    await _check_and_deliver(services, checker, books.current(), as_json=ns.json)
    scheduler = services.scheduler(on_outcome=landed)
    try:
        await scheduler.run()
    finally:
        await scheduler.stop()
    return 0


COMMANDS: dict[str, Command] = {
    "history": cmd_history,
    "filters": cmd_filters,
    "watch": cmd_watch,
}
