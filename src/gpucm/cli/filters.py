"""The search the filter flags and --query describe, shared by `offers` and
`instances launch` (which launches the cheapest match)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from pydantic import ValidationError

from gpucm.cli.errors import UsageError
from gpucm.cli.parser import namespace_filters
from gpucm.domain.models import SearchQuery
from gpucm.domain.provider_names import PROVIDERS, canonical_provider


def canonical_providers(names: Iterable[str]) -> list[str]:
    result = []
    for name in names:
        canonical = canonical_provider(name)
        if canonical is None:
            raise UsageError(f"unknown provider {name!r} (known: {', '.join(PROVIDERS)})")
        result.append(canonical)
    return result


def filter_query(ns: argparse.Namespace, base: SearchQuery | None = None) -> SearchQuery:
    """The search the filter flags and --query describe (no paging)."""
    given = {k: v for k, v in namespace_filters(ns).items() if v not in (None, [])}
    if "providers" in given:
        given["providers"] = canonical_providers(given["providers"])
    if getattr(ns, "all", False):
        given["available"] = False
    start = base or SearchQuery()
    try:
        query = SearchQuery.model_validate({**start.model_dump(exclude_defaults=True), **given})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "filters"
        message = str(err["msg"]).removeprefix("Value error, ")
        raise UsageError(f"--{field.replace('_', '-')}: {message}") from None
    if ns.query:
        from gpucm.domain.query import QueryError, parse_query  # the text query's parser

        try:
            query = parse_query(ns.query, base=query)
        except QueryError as exc:
            raise UsageError(f"--query: {exc}") from None
    return query
