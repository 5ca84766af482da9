"""The headless CLI's arguments. Flags are named after the original API's fields."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gpucm import __version__
from gpucm.cli.errors import Parser
from gpucm.domain.models import CATEGORIES, SORT_KEYS


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("store")
    group.add_argument(
        "--db", type=Path, help="database file (default: in the data dir; env GPUCM_DB)"
    )
    group.add_argument(
        "--demo",
        action="store_true",
        default=None,
        help="use the built-in demo market even when API keys are set",
    )


def _output(parser: argparse.ArgumentParser, *, csv: bool = True) -> None:
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON data only")
    if csv:
        fmt.add_argument("--csv", action="store_true", help="print CSV")


def _filters(parser: argparse.ArgumentParser) -> None:
    f = parser.add_argument_group("filters (as in the original search API)")
    f.add_argument(
        "--gpu-model",
        action="append",
        default=[],
        metavar="MODEL",
        help="GPU model or family, repeatable (H100 matches every H100 variant)",
    )
    f.add_argument("--gpu-category", choices=[c for c in CATEGORIES])
    f.add_argument("--min-gpu-count", type=int, metavar="N")
    f.add_argument("--min-price", type=float, metavar="USD", help="$/h for the whole offer")
    f.add_argument("--max-price", type=float, metavar="USD", help="$/h for the whole offer")
    f.add_argument("--min-ram", type=float, metavar="GB")
    f.add_argument("--min-storage", type=float, metavar="GB")
    f.add_argument("--min-gpu-memory", type=float, metavar="GB", help="VRAM per GPU")
    f.add_argument("--min-cuda", type=float, metavar="VERSION")
    f.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="REGION",
        help="region group (US-East, Europe, ...) or provider region; repeatable",
    )
    f.add_argument("--min-performance", type=float, metavar="SCORE")
    f.add_argument("--min-reliability", type=float, metavar="0..1")
    f.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME",
        help="vast_ai, runpod, lambda_labs, paperspace; repeatable",
    )
    f.add_argument("--sort-by", choices=list(SORT_KEYS))
    f.add_argument("--sort-order", choices=["asc", "desc"])
    f.add_argument("--all", action="store_true", help="include offers not available now")
    f.add_argument(
        "--query",
        "-q",
        metavar="TEXT",
        help="text query, e.g. 'gpu=\"RTX 4090\",A100 price<2 region=Europe'",
    )
    f.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="at most N offers (default 30 in a table, all with --json/--csv)",
    )
    f.add_argument("--offset", type=int, default=0, metavar="N")


def build_parser() -> Parser:
    parser = Parser(
        prog="gpucm",
        description="Find, compare and launch cloud GPUs across Vast.ai, RunPod, "
        "Lambda Cloud and Paperspace. Without API keys a demo market is used.",
    )
    parser.add_argument("--version", action="version", version=f"gpucm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    offers = sub.add_parser("offers", help="search offers in the store")
    _filters(offers)
    _output(offers)
    _common(offers)

    models = sub.add_parser("models", help="the GPU catalog")
    models.add_argument("--category", choices=[c for c in CATEGORIES if c != "unknown"])
    _output(models, csv=False)
    _common(models)

    providers = sub.add_parser("providers", help="providers, configuration and health")
    _output(providers, csv=False)
    _common(providers)

    stats = sub.add_parser("stats", help="marketplace statistics")
    _output(stats, csv=False)
    _common(stats)

    refresh = sub.add_parser("refresh", help="refresh offers from every provider once")
    refresh.add_argument("--provider", action="append", default=[], metavar="NAME")
    _output(refresh, csv=False)
    _common(refresh)
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def namespace_filters(ns: argparse.Namespace) -> dict[str, Any]:
    """The SearchQuery fields given as flags (None = not given)."""
    return {
        "gpu_models": ns.gpu_model,
        "gpu_category": ns.gpu_category,
        "min_gpu_count": ns.min_gpu_count,
        "min_price": ns.min_price,
        "max_price": ns.max_price,
        "min_ram": ns.min_ram,
        "min_storage": ns.min_storage,
        "min_gpu_memory": ns.min_gpu_memory,
        "min_cuda": ns.min_cuda,
        "regions": ns.region,
        "min_performance": ns.min_performance,
        "min_reliability": ns.min_reliability,
        "providers": ns.provider,
        "sort_by": ns.sort_by,
        "sort_order": ns.sort_order,
    }
