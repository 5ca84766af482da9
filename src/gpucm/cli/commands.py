"""The headless commands: each reads the store (refreshing a never-refreshed one) and
prints a table, JSON or CSV. Data goes to stdout, messages to stderr.

A command imports what only it, or only one of its outputs, uses where it uses it: one
`gpucm offers --json` is a process start, and every module is part of its time.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from gpucm import formatting as fmt
from gpucm.cli.errors import UsageError
from gpucm.cli.filters import canonical_providers, filter_query
from gpucm.cli.output import demo_banner, print_json, say
from gpucm.cli.parser import MAX_INT

if TYPE_CHECKING:
    from gpucm.domain.models import Offer, SearchQuery
    from gpucm.services import Services

TABLE_LIMIT = 30


def build_query(ns: argparse.Namespace, base: SearchQuery | None = None) -> SearchQuery:
    """The filters, then the page: --limit/--offset win; else `limit=`/`offset=` in the
    query text (or the preset) hold; else a table shows its first page, JSON and CSV all."""
    query = filter_query(ns, base)
    limit, offset = ns.limit, ns.offset
    if limit is not None and not 0 <= limit <= MAX_INT:
        raise UsageError(f"--limit must be 0 (no limit) to {MAX_INT}")
    if offset is not None and not 0 <= offset <= MAX_INT:
        raise UsageError(f"--offset must be 0 to {MAX_INT}")
    if limit is None:
        limit = query.limit
    if limit is None and not (ns.json or ns.csv):
        limit = TABLE_LIMIT
    offset = query.offset if offset is None else offset
    return query.model_copy(update={"limit": limit or None, "offset": offset})


def offers_table(offers: list[Offer]) -> str:
    from gpucm.cli.table import Column, render_table

    columns = [
        Column("ID", min_width=14, max_width=34, flex=True, keep=2),
        Column("GPU", min_width=12, max_width=18, flex=True, keep=1),
        Column("N", ">"),
        Column("$/H", ">"),
        Column("$/GPU·H", ">"),
        Column("VRAM", ">"),
        Column("REL", ">"),
        Column("REGION", min_width=8, max_width=18, flex=True),
    ]
    rows = [
        [
            o.id,
            o.gpu_model + (" *" if o.stale else ""),
            str(o.gpu_count),
            fmt.price(o.price_per_hour),
            fmt.price(o.price_per_gpu_hour),
            fmt.gigabytes(o.gpu_memory_gb),
            "-" if o.reliability is None else f"{o.reliability * 100:.0f}%",
            o.region or "-",
        ]
        for o in offers
    ]
    return render_table(columns, rows)


def preset_query(name: str | None) -> SearchQuery | None:
    if name is None:
        return None
    from gpucm.domain.query import QueryError
    from gpucm.presets import PresetError, load_book

    try:
        return load_book().filter_query(name)
    except (PresetError, QueryError) as exc:
        raise UsageError(f"--preset: {exc}") from None


async def cmd_offers(ns: argparse.Namespace, services: Services) -> int:
    query = build_query(ns, preset_query(ns.preset))
    await services.ensure_data()
    data = ns.json or ns.csv
    # only the table says how many match in all: data out skips counting every match
    page = await services.store.search(query, with_total=not data)
    demo_banner(services.demo)
    if query.fits is not None:
        from gpucm.domain.pricing import DEFAULT_DISK_GB, all_in_disk_gb
        from gpucm.domain.workload_fit import need_of

        need = need_of(query.fits)
        say(f"fits={query.fits}: " + "; ".join(need.explain()))
        disk = all_in_disk_gb(query)
        if disk is not None:
            why = "storage>=" if query.min_storage else f"the weights plus {DEFAULT_DISK_GB:g} GB"
            say(
                "Ranked by all-in $/h: the price plus storage billed by the GB-month for a "
                f"{disk:g} GB disk ({why}); $/H shows the price alone."
            )
    if data:
        from gpucm.export import write_offers

        write_offers(page.offers, sys.stdout, "json" if ns.json else "csv")
    elif not page.offers:
        from gpucm.engine.empty_search import unknown_sentence, unknown_terms

        unknown = await unknown_terms(services.store, query) if page.total == 0 else []
        say(
            unknown_sentence(unknown)
            if unknown
            else "No offers match. Loosen a filter, or add --all to include unavailable offers."
        )
    else:
        print(offers_table(page.offers))
        shown = query.offset + len(page.offers)
        more = page.total - shown
        note = f"{len(page.offers)} of {page.total} offers"
        if more > 0:
            note += f"; {more} more (use --limit/--offset)"
        if any(o.stale for o in page.offers):
            note += "; * = stale (last refresh of that provider failed)"
        say(note)
    return 0


async def cmd_models(ns: argparse.Namespace, services: Services) -> int:
    models = [m for m in services.catalog.models if not ns.category or m.category == ns.category]
    if ns.json:
        print_json([m.model_dump(mode="json") for m in models])
        return 0
    from gpucm.cli.table import Column, render_table

    columns = [
        Column("MODEL", max_width=20, flex=True),
        Column("CATEGORY"),
        Column("VRAM", ">"),
        Column("ARCH", max_width=14, flex=True),
        Column("CC", ">"),
        Column("SCORE", ">"),
        Column("BW GB/s", ">"),
        Column("FP16 TF", ">"),
    ]
    rows = [
        [
            m.name,
            m.category,
            fmt.gigabytes(m.memory_gb),
            m.architecture,
            "-" if m.compute_capability is None else f"{m.compute_capability:.1f}",
            str(m.performance_score),
            fmt.number(m.memory_bandwidth_gbps),
            fmt.number(m.fp16_tflops),
        ]
        for m in models
    ]
    print(render_table(columns, rows))
    return 0


async def cmd_providers(ns: argparse.Namespace, services: Services) -> int:
    # every provider's module (regions, features): loaded for this command only
    from gpucm.engine.provider_info import provider_infos

    infos = await provider_infos(
        services.store, services.settings.configured_providers(), demo=services.demo
    )
    if ns.json:
        print_json([i.model_dump(mode="json") for i in infos])
        return 0
    demo_banner(services.demo)
    now = services.clock()
    from gpucm.cli.table import Column, render_table

    columns = [
        Column("PROVIDER"),
        Column("CONFIGURED"),
        Column("STATUS"),
        Column("OFFERS", ">"),
        Column("UPDATED", ">"),
        Column("LAST ERROR", min_width=10, max_width=60, flex=True),
    ]
    rows = []
    for info in infos:
        h = info.health
        rows.append(
            [
                info.name,
                "yes" if info.is_configured else "no",
                h.status if h else "never",
                str(h.offer_count) if h else "0",
                fmt.age(h.last_success_at if h else None, now),
                (h.last_error or "") if h else "",
            ]
        )
    print(render_table(columns, rows))
    say(await store_line(services))
    return 0


async def store_line(services: Services) -> str:
    """Where the store is (a URL with its password masked), and in a team who
    refreshes for everyone."""
    line = f"store: {services.store.path}"
    team = services.team
    if team is None:
        return line
    info = await team.refresher()
    if info is None or not info.alive:
        return line + " (team; no refresher running: the next gpucm-tui, serve or watch is)"
    return line + f" (team; refreshed by {info.who})"


async def cmd_stats(ns: argparse.Namespace, services: Services) -> int:
    await services.ensure_data()
    stats = await services.store.stats()
    if ns.json:
        print_json(stats.model_dump(mode="json"))
        return 0
    demo_banner(services.demo)
    print(
        f"{stats.available_instances} of {stats.total_instances} offers available; "
        f"average {fmt.price(stats.average_price)}/h, "
        f"range {fmt.price(stats.price_range.min)}-{fmt.price(stats.price_range.max)}/h"
    )
    print("by provider: " + ", ".join(f"{p} {n}" for p, n in stats.provider_stats.items()))
    from gpucm.cli.table import Column, render_table

    columns = [
        Column("MODEL", max_width=20, flex=True),
        Column("AVAIL", ">"),
        Column("MIN $/H", ">"),
        Column("MEDIAN", ">"),
        Column("MAX", ">"),
        Column("MIN $/GPU", ">"),
        Column("PROVIDERS", min_width=8, max_width=40, flex=True),
    ]
    ranked = sorted(stats.model_stats.items(), key=lambda kv: -kv[1].available_count)
    rows = [
        [
            name,
            str(ms.available_count),
            fmt.price(ms.min_price),
            fmt.price(ms.median_price),
            fmt.price(ms.max_price),
            fmt.price(ms.min_price_per_gpu),
            ",".join(ms.providers),
        ]
        for name, ms in ranked
        if ms.available_count
    ]
    print(render_table(columns, rows))
    return 0


async def cmd_refresh(ns: argparse.Namespace, services: Services) -> int:
    only = canonical_providers(ns.provider) or None
    if not services.provider_names():
        raise UsageError("no provider is configured; set an API key or use --demo")
    team = services.team
    if team is not None and not team.leading:
        info = await team.refresher()
        if info is not None and info.alive:
            say(f"asking the team's refresher ({info.who}) for a round…")
    outcomes = await services.refresh(only)
    if not outcomes:
        raise UsageError("none of the named providers is configured")
    if ns.json:
        print_json([o.__dict__ for o in outcomes])
    else:
        demo_banner(services.demo)
        for outcome in outcomes:
            print(outcome.summary())
    return 0 if any(o.ok for o in outcomes) else 1


async def cmd_instances(ns: argparse.Namespace, services: Services) -> int:
    from gpucm.cli.instances import run  # the launch path loads only when it is used

    return await run(ns, services)


async def cmd_hosts(ns: argparse.Namespace, services: Services) -> int:
    from gpucm.cli.hosts import cmd_hosts as run

    return await run(ns, services)


async def cmd_spend(ns: argparse.Namespace, services: Services) -> int:
    from gpucm.cli.spend import cmd_spend as spend

    return await spend(ns, services)


async def cmd_serve(ns: argparse.Namespace, services: Services) -> int:
    from gpucm.cli.serve import cmd_serve as serve  # fastapi and uvicorn load only here

    return await serve(ns, services)


async def cmd_insight(ns: argparse.Namespace, services: Services) -> int:
    from gpucm.cli.insight import COMMANDS as INSIGHT

    return await INSIGHT[ns.command](ns, services)


COMMANDS = {
    "offers": cmd_offers,
    "models": cmd_models,
    "providers": cmd_providers,
    "stats": cmd_stats,
    "refresh": cmd_refresh,
    "instances": cmd_instances,
    "hosts": cmd_hosts,
    "spend": cmd_spend,
    "history": cmd_insight,
    "filters": cmd_insight,
    "watch": cmd_insight,
    "serve": cmd_serve,
}
