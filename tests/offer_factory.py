"""Building normalised offers for tests without a provider."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import NetworkInfo, Offer, offer_id
from gpucm.domain.normalize import normalize_offer
from tests.conftest import FIXED_NOW


def make_offer(
    provider: str = "vast_ai",
    provider_id: str = "1",
    gpu_name: str = "RTX 4090",
    *,
    catalog: Catalog | None = None,
    fetched_at: datetime = FIXED_NOW,
    download: float | None = None,
    upload: float | None = None,
    **fields: Any,
) -> Offer:
    base: dict[str, Any] = {
        "id": offer_id(provider, provider_id),
        "provider": provider,
        "provider_id": provider_id,
        "gpu_name": gpu_name,
        "gpu_count": 1,
        "price_per_hour": 1.0,
        "region": "Texas, US",
        "fetched_at": fetched_at,
        "network_info": NetworkInfo(download_mbps=download, upload_mbps=upload),
    }
    base.update(fields)
    return normalize_offer(Offer(**base), catalog or Catalog.builtin())
