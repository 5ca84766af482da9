"""Honest prices: what an offer costs all-in, per GPU, per point of performance.

Providers quote different things: Vast folds a small default disk into its price,
RunPod and Paperspace bill storage on top by the GB-month. The all-in price adds the
storage the user asks for wherever it is billed separately, and says it is estimated.

Egress: Vast.ai bills data out of a machine by the GB (each machine's own rate, its
`inet_up_cost`); the all-in price adds "GB out per hour" x that rate when the user
says how much they send (default 0: not counted, and the screens say so). RunPod,
Lambda Cloud and Paperspace give no per-GB rate in their APIs: nothing is added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gpucm.domain.models import Offer, SearchQuery
from gpucm.domain.workload_fit import need_of

HOURS_PER_MONTH = 730.0  # the 365.25-day year / 12, as providers bill storage
# The disk an all-in price assumes when the search does not ask for one (storage>=N):
# a container image, a dataset shard and checkpoints; also the launch form's default.
DEFAULT_DISK_GB = 50.0


@dataclass(frozen=True)
class AllIn:
    """What an offer costs per hour all in: compute plus its storage and egress."""

    per_hour: float
    compute_per_hour: float
    storage_per_hour: float
    estimated: bool  # storage priced from a list rate, not quoted for this launch

    gpu_count: int = 1
    egress_per_hour: float = 0.0  # GB out per hour x the offer's per-GB rate

    def for_hours(self, hours: float) -> float:
        return self.per_hour * hours

    @property
    def per_gpu_hour(self) -> float:
        return self.per_hour / max(1, self.gpu_count)


# provider_data key: storage (GB) the quoted price already includes (Vast prices its
# search for the allocated_storage it was asked about)
INCLUDED_STORAGE_KEY = "allocated_storage_gb"


def included_storage_gb(offer: Offer) -> float:
    value = offer.provider_data.get(INCLUDED_STORAGE_KEY)
    return float(value) if isinstance(value, int | float) else 0.0


# provider_data key: $ per GB sent out of the machine, where the provider bills it
EGRESS_PER_GB_KEY = "egress_per_gb"


def egress_per_gb(offer: Offer) -> float | None:
    """The offer's per-GB egress rate; None where the provider gives none."""
    value = offer.provider_data.get(EGRESS_PER_GB_KEY)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def all_in(
    offer: Offer,
    disk_gb: float | None,
    gb_out_per_hour: float = 0.0,
    *,
    bid_per_gpu: float | None = None,
) -> AllIn:
    """The offer's hourly price plus the requested disk where storage is billed
    separately (a per-GB-month rate on the offer), less what the price includes, plus
    `gb_out_per_hour` GB of egress where the provider bills it by the GB. With
    `bid_per_gpu`, the offer rented interruptible at that bid (`interruptible_price`)."""
    rate = offer.storage_price_per_gb_month
    extra = max(0.0, (disk_gb or 0.0) - included_storage_gb(offer))
    storage = (rate * extra / HOURS_PER_MONTH) if rate and extra else 0.0
    egress = (egress_per_gb(offer) or 0.0) * max(0.0, gb_out_per_hour)
    compute = (
        offer.price_per_hour if bid_per_gpu is None else interruptible_price(offer, bid_per_gpu)
    )
    return AllIn(
        per_hour=compute + storage + egress,
        compute_per_hour=compute,
        storage_per_hour=storage,
        estimated=storage > 0,  # egress is the user's own GB at the provider's rate
        gpu_count=offer.gpu_count,
        egress_per_hour=egress,
    )


# An interruptible launch's default bid: the minimum plus this margin, so a bid placed
# as the market ticks up is not outbid at once; small enough to stay well under the
# on-demand price (spot is ~40-60% of it at Vast and RunPod).
BID_MARGIN = 0.05


def interruptible_price(offer: Offer, bid_per_gpu: float) -> float:
    """$/h the offer bills rented interruptible at `bid_per_gpu`: the bid for every GPU,
    plus what the offer's interruptible price folds in beyond its minimum bid (Vast's
    storage, as its on-demand price does)."""
    folded = 0.0
    spot, minimum = offer.spot_price_per_hour, offer.min_bid_per_gpu_hour
    if spot is not None and minimum is not None:
        folded = max(0.0, spot - minimum * offer.gpu_count)
    return bid_per_gpu * offer.gpu_count + folded


def default_bid(min_bid_per_gpu: float) -> float:
    """The bid per GPU-hour a launch offers unless told otherwise: the minimum plus
    BID_MARGIN, rounded up to a tenth of a cent (never below the minimum)."""
    bid = math.ceil(round(min_bid_per_gpu * (1 + BID_MARGIN) * 1000, 6)) / 1000
    return max(bid, min_bid_per_gpu)


def planned_disk_gb(min_storage: float | None) -> float:
    """The disk to price in: what the search asks for, else the default."""
    return min_storage if min_storage else DEFAULT_DISK_GB


def fit_disk_gb(weights_gb: float, min_storage: float | None) -> float:
    """The disk a `fits=` search prices in when it ranks by all-in $/h: what the search
    asks for (storage>=N), else the weights themselves plus the default disk. The
    launch form's default alone (50 GB) cannot hold a 70B model's 140 GB of weights, so
    ranking with it would undercount the storage such a launch pays for."""
    if min_storage:
        return min_storage
    return math.ceil(weights_gb) + DEFAULT_DISK_GB


# Far past any disk; keeps the number the store writes into ORDER BY finite.
_MOST_DISK_GB = 1e9


def search_disk_gb(query: SearchQuery) -> float | None:
    """The disk a search's all-in prices assume: a `fits=` workload's (fit_disk_gb),
    else what storage>= asks for (None: the screens' default)."""
    if query.fits is None:
        return query.min_storage
    return min(fit_disk_gb(need_of(query.fits).weights_gb, query.min_storage), _MOST_DISK_GB)


def all_in_disk_gb(query: SearchQuery) -> float | None:
    """The disk a query's price order prices in, None for the plain $/h. A `fits=`
    search ranks by all-in $/h: the price plus its storage billed by the GB-month for
    the disk the workload needs (fit_disk_gb), as the offers it lists are launched with
    their weights on disk. Egress counts 0 GB out unless asked, so adds nothing."""
    if query.fits is None or query.sort_by != "price":
        return None
    return search_disk_gb(query)


def per_gb_vram_hour(offer: Offer) -> float | None:
    if not offer.gpu_memory_gb:
        return None
    return offer.price_per_hour / (offer.gpu_memory_gb * offer.gpu_count)
