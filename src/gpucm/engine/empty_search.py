"""Why a search found nothing, when a term of it names nothing any provider lists (a
region such as "Mars", a GPU no one offers): said the same way by every front end."""

from __future__ import annotations

from gpucm.domain.models import SearchQuery
from gpucm.domain.regions import REGION_GROUPS, expand_region_terms
from gpucm.engine.ports import OfferCounter


async def unknown_terms(store: OfferCounter, query: SearchQuery) -> list[str]:
    """The query's region and GPU terms that match no offer at all, available or not,
    as "region 'Mars'" / "GPU 'H999'"; region groups (Europe, US...) are never unknown."""
    unknown: list[str] = []
    _groups, raw = expand_region_terms(query.regions)
    for term in raw:
        if not await store.count(SearchQuery(regions=(term,), available=False)):
            unknown.append(f"region {term!r}")
    for term in query.gpu_models:
        if not await store.count(SearchQuery(gpu_models=(term,), available=False)):
            unknown.append(f"GPU {term!r}")
    return unknown


def unknown_sentence(unknown: list[str]) -> str:
    """ "No offers match: unknown ..." for `unknown_terms`' answer (not empty)."""
    text = f"No offers match: unknown {' and '.join(unknown)} (no provider lists it)."
    if any(term.startswith("region") for term in unknown):
        text += f" Region groups: {', '.join(REGION_GROUPS)}."
    return text
