"""Fill an adapter's offer with the canonical facts: catalog model and region group."""

from __future__ import annotations

from collections.abc import Iterable

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import Offer
from gpucm.domain.regions import country_of, region_group


def normalize_offer(offer: Offer, catalog: Catalog) -> Offer:
    model = catalog.resolve(offer.gpu_name, offer.gpu_memory_gb)
    country = offer.country or country_of(offer.region)
    # model_copy skips validation: every value here comes from the catalog or the
    # region tables, and re-validating 100k offers per refresh costs ~0.5 s.
    return offer.model_copy(
        update={
            "gpu_model": model.name,
            "gpu_family": model.family,
            "gpu_category": model.category,
            "performance": model.performance_score or None,
            "gpu_memory_gb": offer.gpu_memory_gb or model.memory_gb or None,
            "country": country,
            "region_group": region_group(offer.region, country),
        }
    )


def normalize_offers(offers: Iterable[Offer], catalog: Catalog) -> list[Offer]:
    return [normalize_offer(o, catalog) for o in offers]
