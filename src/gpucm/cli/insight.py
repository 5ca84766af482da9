"""`gpucm history`, `gpucm filters` and `gpucm watch`: the market insight commands.

`gpucm watch` is meant to run for days on a jump box: it refreshes like the TUI does,
checks the watches in filters.toml after every refresh (re-reading the file when it
changes), prints each alert and hands it to the configured command and webhook. Each
alert is delivered once, even across restarts: the store remembers what was said.
Armed watches (snipes) are the store's (engine/armings.py), every team member's:
arming, disarming and deleting write there, and the process that fires them (alone,
or the team's elected refresher) fires each, whoever armed it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
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
    LaunchTemplate,
    TemplateError,
    parse_template,
)
from gpucm.presets import (
    BookFile,
    PresetBook,
    PresetError,
    PresetWriteError,
    Watch,
    delete_filter,
    delete_watch,
    load_book,
    save_filter,
    save_watch,
)
from gpucm.services import Services
from gpucm.store.history import HistoryPoint, resolution_for
from gpucm.store.results import ArmedWatch

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
    except PresetWriteError as exc:  # not bad input: the file cannot be written
        _say(f"gpucm: {exc}")
        return 1
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
    raw: dict[str, object] = {
        "max_price_per_hour": ns.max_price_per_hour,
        "env": list(ns.env),
        "ports": list(ns.port),
        "interruptible": ns.spot,
        "count": ns.count,
    }
    for key, value in (
        ("image", ns.image),
        ("disk_gb", ns.disk),
        ("ssh_key", ns.ssh_key),
        ("bid_per_gpu", ns.bid),
    ):
        if value is not None:
            raw[key] = value
    # the rules of filters.toml, so a value the file would refuse is refused before
    # the arming is confirmed, never after
    try:
        return parse_template(raw)
    except TemplateError as exc:
        flag = _TEMPLATE_FLAGS.get(exc.setting or "")
        raise UsageError(f"{flag}: {exc.reason}" if flag else str(exc)) from None


_TEMPLATE_FLAGS = {
    "max_price_per_hour": "--max-price-per-hour",
    "image": "--image",
    "disk_gb": "--disk",
    "env": "--env",
    "ports": "--port",
    "ssh_key": "--ssh-key",
    "interruptible": "--spot",
    "bid_per_gpu": "--bid",
    "count": "--count",
}


def _confirm_arming(ns: argparse.Namespace, watch: Watch, services: Services) -> str:
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
    if services.team is not None:
        from gpucm.engine.armings import TEAM_ARMING

        _say(f"  In a team, {TEAM_ARMING}.")
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
    await _adopt(services, book)
    alerts = await checker.check(book)
    settings = services.settings
    for alert in alerts:
        _print_alert(services, alert.as_json(), alert.message, as_json=as_json)
        _failures(
            await deliver(
                alert, command=settings.watch_command, webhook_url=settings.watch_webhook()
            )
        )
    if may_launch:
        await _fire(services, as_json=as_json)
    await services.send_events()  # a snipe's launch events, to [events] in config.toml
    return alerts


async def _adopt(services: Services, book: PresetBook) -> None:
    """An old filters.toml's armings, into the store (engine/armings.py)."""
    if any(w.armed for w in book.watches.values()):
        for name in await services.armings.adopt(book):
            _say(f"gpucm watch: {name}: its arming moved from filters.toml to the store")


async def _fire(services: Services, *, as_json: bool) -> None:
    """Fire the store's armed watches, every owner's."""
    if not await services.armings.armed():
        return
    # the launch path loads only when a watch is armed (`gpucm history` never needs it)
    from gpucm.engine.snipe import deliver_snipe

    settings = services.settings
    for snipe in await services.sniper().fire_all():
        _print_alert(services, snipe.as_json(), snipe.message, as_json=as_json)
        _failures(
            await deliver_snipe(
                snipe, command=settings.watch_command, webhook_url=settings.watch_webhook()
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
    armings = services.armings
    await _adopt(services, _book())
    try:
        if action == "add":
            watch = _watch_from_args(ns, _book())
            stamp = None if watch.launch is None else _confirm_arming(ns, watch, services)
            save_watch(watch)  # the definition; the arming goes to the store
            if stamp is not None:
                watch = await armings.arm(watch, stamp)
            elif await armings.disarm(watch.name, reason="redefined"):
                _say(f"{watch.name}: its launch action was armed; now it has none: disarmed")
            _say(f"watching {watch.name}: {watch.describe()}")
            return 0
        if action == "arm":
            watch = _armable(ns.name)
            watch = await armings.arm(watch, _confirm_arming(ns, watch, services))
            _say(f"watching {watch.name}: {watch.describe()}")
            return 0
        if action == "disarm":
            if ns.owner is not None:
                return await _disarm_owners(ns.name, ns.owner, services)
            _armable(ns.name)
            changed = await armings.disarm(ns.name)
            _say(f"{ns.name}: disarmed" if changed else f"{ns.name}: was not armed")
            return 0
        if action == "delete":
            delete_watch(ns.name)
            await armings.forget(ns.name)
            await services.store.alerts.forget(ns.name)
            _say(f"deleted watch {ns.name}")
            return 0
    except PresetWriteError as exc:  # not bad input: the file cannot be written
        _say(f"gpucm: {exc}")
        return 1
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
        return _list_watches(ns, book, await armings.all(), armings.owner)
    if not book.watches and not await armings.armed():
        raise UsageError(
            "no watches yet: add one with gpucm watch add NAME --query 'gpu=\"RTX 4090\"'"
            " --price-at-or-under 0.35"
        )
    return await _run_watches(ns, services)


async def _disarm_owners(name: str, owner: str, services: Services) -> int:
    """`gpucm watch disarm NAME --owner USER`: the arming in the store, whoever's it is
    (their watch is in their filters.toml, not this user's)."""
    from gpucm.engine.armings import describe, owner_of

    armings = services.armings
    owner = owner_of(owner.strip())  # bob@jumpbox-1, as listings show it, is bob
    if not owner:
        raise UsageError("--owner: name a user (the owner `gpucm watch list` shows)")
    whose = f"{owner}'s watch {name}"
    if await armings.disarm(name, owner=owner):
        _say(f"{whose}: disarmed (by {armings.who})")
        return 0
    row = await armings.get(name, owner=owner)
    if row is None:
        alone = services.team is None and owner != armings.owner
        raise UsageError(
            f"{owner} has no armed watch named {name} in this store"
            + (" (not a team's store: DATABASE_URL is not set)" if alone else "")
        )
    _say(f"{whose}: was not armed ({describe(row, row.owner)})")
    return 0


def _list_watches(ns: argparse.Namespace, book: PresetBook, rows: list[ArmedWatch], me: str) -> int:
    """This user's watches (their arming from the store), then the team's other
    armings (with their owner)."""
    from gpucm.engine.armings import describe

    mine = {r.watch: r for r in rows if r.owner == me}
    others = [r for r in rows if r.owner != me or r.watch not in book.watches]
    if ns.json:
        _json(
            [
                {
                    "name": w.name,
                    "owner": me,
                    "query": w.query_text,
                    "conditions": w.conditions(),
                    "launch": w.launch.to_toml() if w.launch else None,
                    **_arming_json(mine.get(w.name) if w.launch else None),
                }
                for w in book.watches.values()
            ]
            + [
                {
                    "name": r.watch,
                    "owner": r.owner,
                    "query": r.query,
                    "conditions": _row_conditions(r),
                    "launch": r.template,
                    **_arming_json(r),
                }
                for r in others
            ]
        )
        return 0
    columns = [
        Column("Name"),
        Column("Filter", flex=True),
        Column("Conditions", flex=True),
        Column("Launch", flex=True),
    ]
    table = [
        [
            w.name,
            w.filter_name or w.query_text or "(every offer)",
            ", ".join(w.conditions()) or "-",
            _launch_cell(w.launch, mine.get(w.name), me),
        ]
        for w in book.watches.values()
    ] + [
        [
            r.watch if r.owner == me else f"{r.watch} ({r.owner})",
            r.query or "(every offer)",
            ", ".join(_row_conditions(r)) or "-",
            _launch_cell(None, r, me),
        ]
        for r in others
    ]
    print(render_table(columns, table))
    for r in rows:
        if r.owner != me or r.watch in book.watches:
            _say(f"{r.watch}: {describe(r, me)}")
    return 0


def _row_conditions(row: ArmedWatch) -> list[str]:
    """An arming's conditions as its watch says them (another member's watch is not
    in this user's filters.toml: the store's copy is what there is)."""
    from gpucm.engine.armings import ArmingError, watch_of

    try:
        return watch_of(row).conditions()
    except ArmingError:
        return []


def _arming_json(row: ArmedWatch | None) -> dict[str, Any]:
    if row is None:
        return {"armed": False, "arming": None}
    return {
        "armed": row.is_armed,
        "arming": {
            "armed_at": row.armed_at.isoformat(),
            "armed_by": row.armed_by,
            "disarmed_at": row.disarmed_at.isoformat() if row.disarmed_at else None,
            "disarmed_by": row.disarmed_by,
            "disarm_reason": row.disarm_reason,
        },
    }


def _launch_cell(launch: LaunchTemplate | None, row: ArmedWatch | None, me: str) -> str:
    if launch is None and row is None:
        return "-"
    if row is not None and row.is_armed:
        count = row.template.get("count", 1)
        ceiling = float(row.template.get("max_price_per_hour", 0))
        return f"ARMED: {count} x <= ${ceiling:.3f}/h"
    if launch is None:
        return "disarmed"
    return f"disarmed: {launch.count} x <= ${launch.max_price_per_hour:.3f}/h"


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
        # in a team only the refresher fires armed watches (every member's): this
        # process, if it ran the round itself
        ran_it = services.team is None or all(not o.by for o in outcomes)
        if not ran_it and await services.armings.armed():
            _say(
                "gpucm watch: armed watches launch only in the team's refresher, and"
                " another process refreshed this round: nothing was launched here"
            )
        await _check_and_deliver(
            services, checker, books.current(), as_json=ns.json, may_launch=ran_it
        )
        return 0
    names = ", ".join(books.current().watches) or "no watch of yours"
    theirs = [r for r in await services.armings.armed() if not services.armings.mine(r)]
    if theirs:
        names += f" and {len(theirs)} armed watch(es) of the team"
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

    leading = services.fires_watches
    await _check_and_deliver(
        services, checker, books.current(), as_json=ns.json, may_launch=leading()
    )
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
