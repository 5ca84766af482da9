"""The headless CLI's arguments. Flags are named after the original API's fields.

Light on purpose: `gpucm --help`, `--version` and a typo's one line come from here
before pydantic, the store or the providers load (tests/cli/test_startup.py). A command
line that names its command builds that command's arguments only: the other commands'
parsers (39 in all, with their flags) cost more than the parse itself.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from gpucm import __version__, db_location
from gpucm.cli import help_text
from gpucm.cli.errors import Parser, UsageError
from gpucm.domain.container_ports import PORT_FORMAT, PortError, parse_port
from gpucm.domain.vocabulary import CATEGORIES, SORT_KEYS, STOCK_LEVELS

SHELLS = ("bash", "zsh", "fish")


def add_logging_flags(
    parser: argparse.ArgumentParser, *, sub: bool = False, default_log: str = "stderr"
) -> None:
    """--debug and --log-file, on the top parser and on every command's (a command's
    are SUPPRESSed unless given, so they never undo the same flag given before it)."""
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    group = parser.add_argument_group("logging")
    group.add_argument(
        "--debug",
        action="store_true",
        help="log at DEBUG (over LOG_LEVEL and the config file's log_level)",
        **default,
    )
    group.add_argument(
        "--log-file",
        type=Path,
        metavar="PATH",
        help=f"append log lines to PATH, {help_text.rotation()} (default: {default_log})",
        **default,
    )


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("store")
    group.add_argument(
        "--db",
        type=db_location.argument("--db"),
        metavar="PATH|URL",
        help="database file, sqlite:///PATH, or a team's postgresql:// URL (default: env "
        "DATABASE_URL or GPUCM_DB, database_url in config.toml, else in the data dir)",
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


def _filters(
    parser: argparse.ArgumentParser,
    *,
    title: str = "filters (as in the original search API)",
    listing: bool = True,
) -> None:
    """The offers command's filter flags; `listing` adds sorting, paging and --all,
    which only a listing needs."""
    f = parser.add_argument_group(title)
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
        "--min-availability",
        choices=list(STOCK_LEVELS),
        help="stock the provider confirms at least (hides unknown availability)",
    )
    f.add_argument(
        "--fits",
        metavar="WORKLOAD",
        help="a model that must fit in the offer's VRAM: 70B@bf16, 8B@fp8,ctx=32k, 7B,train",
    )
    f.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME",
        help="vast_ai, runpod, lambda_labs, paperspace; repeatable",
    )
    f.add_argument(
        "--query",
        "-q",
        metavar="TEXT",
        help="text query, e.g. 'gpu=\"RTX 4090\",A100 price<2 region=Europe'",
    )
    if not listing:
        return
    f.add_argument("--sort-by", choices=list(SORT_KEYS))
    f.add_argument("--sort-order", choices=["asc", "desc"])
    f.add_argument("--all", action="store_true", help="include offers not available now")
    f.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="at most N offers (default 30 in a table, all with --json/--csv)",
    )
    f.add_argument("--offset", type=int, metavar="N", help="skip the first N (default 0)")


MAX_INT = 2**63 - 1  # what the store (SQLite) can compare with


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number more than 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= MAX_INT:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_INT}, got {text!r}")
    return value


def port_spec(text: str) -> tuple[int, str]:
    """`8888`, `8888/tcp`, `53/udp` or `8080/http`, as (container port, protocol)."""
    try:
        return parse_port(text)
    except PortError:
        raise argparse.ArgumentTypeError(
            f"expected {PORT_FORMAT}, e.g. 8888/tcp; got {text!r}"
        ) from None


def _ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ref", metavar="ID", help="the instance: gpucm id (runpod:abc), provider id, or name"
    )


def _hosts(sub: argparse._SubParsersAction[Parser]) -> None:
    hosts = sub.add_parser(
        "hosts",
        help="the memory of bad hosts: list, forget, mark",
        description="Machines a launch failed on, never became reachable, or you marked "
        "bad are remembered for 7 days: their offers are hidden (`hosts=all` in a query "
        "shows them) and failover skips them.",
    )
    hsub = hosts.add_subparsers(dest="hosts_command", metavar="SUBCOMMAND", parser_class=Parser)
    hsub.required = True
    listing = hsub.add_parser("list", help="the hosts remembered as bad")
    listing.add_argument("--all", action="store_true", help="include expired entries")
    listing.add_argument("--json", action="store_true", help="print JSON data only")
    _common(listing)
    forget = hsub.add_parser("forget", help="forget a bad host: its offers show again")
    forget.add_argument("host", nargs="?", metavar="HOST", help="as `gpucm hosts list` shows it")
    forget.add_argument("--all", action="store_true", help="forget every host")
    _common(forget)
    mark = hsub.add_parser("mark", help="mark the machine an instance runs on as bad")
    mark.add_argument("ref", metavar="ID", help="the instance: gpucm id, provider id, or name")
    mark.add_argument("--reason", metavar="TEXT", help="what went wrong (one line)")
    _common(mark)


def _instances(sub: argparse._SubParsersAction[Parser]) -> None:
    instances = sub.add_parser(
        "instances",
        help="your machines: list, launch, stop, start, restart, terminate, ssh, logs",
        description="Your machines at every configured provider (the demo market's "
        "simulated machines without API keys).",
    )
    isub = instances.add_subparsers(
        dest="instances_command", metavar="SUBCOMMAND", parser_class=Parser
    )
    isub.required = True

    listing = isub.add_parser(
        "list",
        help="your instances, re-read from every provider, with what they cost",
        description="Re-reads every provider's instances, settles interrupted launches, "
        "and shows what runs and what it costs (the spend goes to stderr).",
    )
    listing.add_argument("--all", action="store_true", help="include terminated instances")
    _output(listing, csv=False)
    _common(listing)

    launch = isub.add_parser(
        "launch",
        help="launch an offer: re-quoted, guarded, confirmed, never launched twice",
        description="Launch one offer, chosen by --offer ID, by filters (the cheapest "
        "available match) or by --from-json FILE (the original API's create body). The "
        "offer is re-quoted and the all-in price shown before anything is launched; a "
        "request id seen before never launches again. --min-ram and --min-storage are also "
        "the launch's resource minimums.",
    )
    choose = launch.add_argument_group("which offer (one way)")
    choose.add_argument(
        "--offer",
        metavar="ID",
        help="gpucm's offer id (vast_ai:123), or the provider's own id with --provider",
    )
    choose.add_argument(
        "--from-json",
        metavar="FILE",
        help="the original API's create body (provider, offer_id, image, label, environment, "
        "ports, resources); - reads stdin",
    )
    _filters(
        launch,
        title="or by filters: the cheapest available match",
        listing=False,
    )
    what = launch.add_argument_group("what to run")
    what.add_argument("--image", metavar="IMAGE", help="container image, e.g. pytorch/pytorch")
    what.add_argument("--label", metavar="NAME", help="instance name (gpucm adds a short tag)")
    what.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable, repeatable; KEY=@FILE reads the value from a file and "
        "KEY=- from stdin, so secrets stay off the command line (@@ starts a literal @)",
    )
    what.add_argument(
        "--port",
        action="append",
        default=[],
        type=port_spec,
        metavar="PORT[/PROTO]",
        help="container port to expose, e.g. 8888/tcp; repeatable",
    )
    what.add_argument("--disk", type=positive_float, metavar="GB", help="disk to attach")
    what.add_argument(
        "--min-gpus", type=positive_int, metavar="N", help="refuse offers with fewer GPUs"
    )
    what.add_argument("--ssh-key", metavar="NAME", help="SSH key (where the provider takes one)")
    money = launch.add_argument_group("cost and safety")
    money.add_argument(
        "--max-price-per-hour",
        type=positive_float,
        metavar="USD",
        help="refuse to launch above this all-in $/h (default with filters: --max-price)",
    )
    money.add_argument(
        "--hours", type=positive_float, metavar="N", help="hours for the cost estimate"
    )
    money.add_argument(
        "--auto-terminate-hours",
        type=positive_float,
        metavar="N",
        help="stop the machine after N hours where the provider can (Paperspace's "
        "auto-shutdown: the disk stays and keeps billing)",
    )
    money.add_argument(
        "--spot",
        action="store_true",
        help="rent interruptible (Vast.ai, RunPod): cheaper, stops when outbid; its disk "
        "stays and keeps billing",
    )
    money.add_argument(
        "--bid",
        type=positive_float,
        metavar="USD",
        help="with --spot: bid per GPU-hour (default: the offer's minimum bid + 5%%)",
    )
    money.add_argument(
        "--request-id",
        metavar="ID",
        help="idempotency key: the same id never launches twice (generated if absent)",
    )
    money.add_argument(
        "--failover",
        action="store_true",
        help="if the offer has no capacity, is gone or is over the maximum, take the "
        "next-best equivalent (same GPU model and count, within the maximum)",
    )
    money.add_argument("--yes", "-y", action="store_true", help="launch without asking")
    _output(launch, csv=False)
    _common(launch)

    for action, text in (
        ("stop", "stop an instance (billing for storage may continue)"),
        ("start", "start a stopped instance"),
        ("restart", "restart an instance"),
    ):
        parser = isub.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        _ref(parser)
        _output(parser, csv=False)
        _common(parser)

    terminate = isub.add_parser(
        "terminate",
        help="terminate an instance for good (asks you to type its name)",
        description="Terminate an instance: it and its disk are gone. Asks you to type its "
        "name unless --yes is given; without a terminal --yes is required.",
    )
    _ref(terminate)
    terminate.add_argument("--yes", "-y", action="store_true", help="terminate without asking")
    _output(terminate, csv=False)
    _common(terminate)

    ssh = isub.add_parser(
        "ssh",
        help="connect with the system ssh (or --print the command)",
        description="Run the system ssh to a running instance; arguments after -- go to ssh.",
    )
    _ref(ssh)
    ssh.add_argument("--print", action="store_true", help="print the ssh command, do not run it")
    ssh.add_argument("ssh_args", nargs="*", metavar="SSH_ARG", help="passed to ssh (after --)")
    _common(ssh)

    logs = isub.add_parser("logs", help="an instance's logs, where the provider has them")
    _ref(logs)
    _common(logs)


Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"


def _offers(sub: Subparsers) -> None:
    offers = sub.add_parser("offers", help="search offers in the store")
    _filters(offers)
    offers.add_argument(
        "--preset", metavar="NAME", help="start from a saved filter (see gpucm filters)"
    )
    _output(offers)
    _common(offers)


def _models(sub: Subparsers) -> None:
    models = sub.add_parser("models", help="the GPU catalog")
    models.add_argument("--category", choices=[c for c in CATEGORIES if c != "unknown"])
    _output(models, csv=False)
    _common(models)


def _providers(sub: Subparsers) -> None:
    providers = sub.add_parser("providers", help="providers, configuration and health")
    _output(providers, csv=False)
    _common(providers)


def _stats(sub: Subparsers) -> None:
    stats = sub.add_parser("stats", help="marketplace statistics")
    _output(stats, csv=False)
    _common(stats)


def _refresh(sub: Subparsers) -> None:
    refresh = sub.add_parser("refresh", help="refresh offers from every provider once")
    refresh.add_argument("--provider", action="append", default=[], metavar="NAME")
    _output(refresh, csv=False)
    _common(refresh)


def _spend(sub: Subparsers) -> None:
    from gpucm.cli.spend import add_parser

    add_parser(sub, _common)


def _insight(sub: Subparsers) -> None:
    from gpucm.cli.insight_args import add_parsers

    add_parsers(sub, _common)


def _doctor(sub: Subparsers) -> None:
    doctor = sub.add_parser(
        "doctor",
        help="check the database; set a broken one aside and start fresh",
        description="Check the database file (SQLite's integrity check, the schema, every "
        "offer and instance row). If it is damaged, offer to move it aside, kept under a "
        "new name, so gpucm starts on a fresh one.",
    )
    doctor.add_argument(
        "--yes", "-y", action="store_true", help="move a damaged database aside without asking"
    )
    _common(doctor)


def _serve(sub: Subparsers) -> None:
    from gpucm.cli.serve import add_parser

    add_parser(sub)


def _db(sub: Subparsers) -> None:
    from gpucm.cli.db import add_parser

    add_parser(sub)


def _paths(sub: Subparsers) -> None:
    where = sub.add_parser(
        "paths",
        help="where gpucm keeps its config, data, logs and database",
        description="Print the config file, the data, cache and log directories, the "
        "TUI's log file and the database this command would open (a password in a "
        "database URL is masked).",
    )
    _output(where, csv=False)
    _common(where)


def _completion(sub: Subparsers) -> None:
    completion = sub.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, fish)",
        description="Print a completion script for SHELL, generated from gpucm's own "
        "arguments. bash: source <(gpucm completion bash) in ~/.bashrc; zsh: gpucm "
        "completion zsh > ~/.zfunc/_gpucm (a directory on $fpath); fish: gpucm completion "
        "fish > ~/.config/fish/completions/gpucm.fish",
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")


# Every command, in the order `gpucm --help` lists them: the names each adder adds.
COMMAND_PARSERS: tuple[tuple[tuple[str, ...], Callable[[Subparsers], None]], ...] = (
    (("offers",), _offers),
    (("models",), _models),
    (("providers",), _providers),
    (("stats",), _stats),
    (("refresh",), _refresh),
    (("instances",), _instances),
    (("hosts",), _hosts),
    (("spend",), _spend),
    (("history", "filters", "watch"), _insight),
    (("doctor",), _doctor),
    (("serve",), _serve),
    (("db",), _db),
    (("paths",), _paths),
    (("completion",), _completion),
)
COMMAND_NAMES = frozenset(name for names, _ in COMMAND_PARSERS for name in names)


def build_parser(command: str | None = None) -> Parser:
    """The whole parser, or with `command` only that command's (a parse of a command
    line that names it needs no other; help and completion need them all)."""
    parser = Parser(
        prog="gpucm",
        description=help_text.wrap(
            "Find, compare and launch cloud GPUs across Vast.ai, RunPod, Lambda Cloud and "
            "Paperspace. Without API keys a demo market (labelled DEMO) is used."
        ),
        epilog_text=help_text.cli_epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gpucm {__version__}")
    add_logging_flags(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for names, add in COMMAND_PARSERS:
        if command is None or command in names:
            add(sub)
    for each in sub.choices.values():
        _add_logging_to_tree(each)
    return parser


def _add_logging_to_tree(parser: argparse.ArgumentParser) -> None:
    add_logging_flags(parser, sub=True)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_logging_to_tree(child)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    args = sys.argv[1:] if argv is None else argv
    if _first_word(args) == "--version":
        # what the whole parser would print, without building it (~15 ms)
        print(f"gpucm {__version__}")
        sys.exit(0)
    command = named_command(args)
    if command is not None:
        try:
            ns = build_parser(command).parse_args(args)
        except UsageError:
            pass  # the whole parser says it, as it always has
        else:
            if ns.command == command:
                return ns
    return build_parser().parse_args(args)


def named_command(args: Sequence[str]) -> str | None:
    """The command a command line names, if that is certain before parsing: its first
    word, after nothing but --debug and --log-file PATH. Anything else before it (-h,
    --version, an abbreviation) leaves it to the whole parser."""
    word = _first_word(args)
    return word if word in COMMAND_NAMES else None


def _first_word(args: Sequence[str]) -> str | None:
    """The first word after nothing but --debug and --log-file PATH."""
    words = iter(args)
    for word in words:
        if word == "--debug" or word.startswith("--log-file="):
            continue
        if word == "--log-file":
            next(words, None)
            continue
        return word
    return None


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
        "min_availability": ns.min_availability,
        "fits": ns.fits,
        "providers": ns.provider,
        "sort_by": getattr(ns, "sort_by", None),
        "sort_order": getattr(ns, "sort_order", None),
    }
