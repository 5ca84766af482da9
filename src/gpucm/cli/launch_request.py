"""`gpucm instances launch`: reading what to launch from the command line — an offer id,
filters (the cheapest match) or the original API's create body (--from-json) — into
the launch flow's target and options. Environment values are secrets: read from a
file or stdin when asked, never printed, and added to the secrets every message is
scrubbed of."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gpucm.cli.errors import UsageError
from gpucm.cli.filters import canonical_providers, filter_query
from gpucm.cli.prompt import interactive
from gpucm.domain.models import LaunchRequest, SearchQuery
from gpucm.domain.provider_names import canonical_provider
from gpucm.domain.vocabulary import ENV_NAME
from gpucm.engine.launch_flow import LaunchTarget
from gpucm.engine.launch_options import LaunchOptions, new_request_id, options_from_mapping
from gpucm.input_checks import InputError, parse_json

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
    ("min_availability", "--min-availability"),
    ("query", "--query"),
)


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
    except InputError as exc:  # not JSON, nested thousands deep, or a lone surrogate
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
    if ns.bid is not None and not (ns.spot or options.interruptible):
        raise UsageError("--bid is for interruptible launches: add --spot")
    if ns.spot:
        update["interruptible"] = True
    if ns.bid is not None:
        update["bid_per_gpu"] = ns.bid
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
    target: LaunchTarget


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
            target=LaunchTarget.by_id(req.offer_id, provider),
        )
    options = with_flags(LaunchOptions(request_id=rid or new_request_id(), label="gpucm"), ns, env)
    if choice == "offer":
        providers = canonical_providers(ns.provider)
        return Plan(
            options,
            generated_id=rid is None,
            target=LaunchTarget.by_id(ns.offer, providers[0] if providers else None),
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
    return Plan(options, generated_id=rid is None, target=LaunchTarget.cheapest(query))
