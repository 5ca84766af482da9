"""Honest prices: what an offer costs all-in, per GPU, per point of performance.

Providers quote different things: Vast folds a small default disk into its price,
RunPod and Paperspace bill storage on top by the GB-month. The all-in price adds the
storage the user asks for wherever it is billed separately, and says it is estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpucm.domain.models import Offer

HOURS_PER_MONTH = 730.0  # the 365.25-day year / 12, as providers bill storage


@dataclass(frozen=True)
class AllIn:
    per_hour: float
    compute_per_hour: float
    storage_per_hour: float
    estimated: bool  # storage priced from a list rate, not quoted for this launch

    def for_hours(self, hours: float) -> float:
        return self.per_hour * hours


def all_in(offer: Offer, disk_gb: float | None) -> AllIn:
    """The offer's hourly price plus the requested disk where storage is billed
    separately (a per-GB-month rate on the offer)."""
    rate = offer.storage_price_per_gb_month
    storage = (rate * disk_gb / HOURS_PER_MONTH) if rate and disk_gb else 0.0
    return AllIn(
        per_hour=offer.price_per_hour + storage,
        compute_per_hour=offer.price_per_hour,
        storage_per_hour=storage,
        estimated=storage > 0,
    )


def per_gb_vram_hour(offer: Offer) -> float | None:
    if not offer.gpu_memory_gb:
        return None
    return offer.price_per_hour / (offer.gpu_memory_gb * offer.gpu_count)
