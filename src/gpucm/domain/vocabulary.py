"""The domain's words: categories, sort keys, statuses, stock levels. Plain constants
without pydantic, so the CLI's parser (built before anything heavy loads) can offer
them as choices; `gpucm.domain.models` types its fields with the same Literals."""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

Category = Literal["consumer", "professional", "datacenter", "unknown"]
Vendor = Literal["nvidia", "amd", "intel", "unknown"]
SortBy = Literal[
    "price",
    "price_per_gpu",
    "performance",
    "reliability",
    "value",
    "gpu_count",
    "ram",
    "vram",
    "storage",
    "spot",
]
SortOrder = Literal["asc", "desc"]
InstanceStatus = Literal["provisioning", "running", "stopped", "error", "terminated"]
# GPU time is billed from the start of provisioning
BILLED: tuple[InstanceStatus, ...] = ("running", "provisioning")
# How much of an offer a provider has in stock right now. `unknown`: the provider does
# not say (Paperspace); `none`: sold out, listed so it stays visible and watchable.
Availability = Literal["high", "medium", "low", "none", "unknown"]
# The levels a minimum can ask for, lowest first. `unknown` is no level: a minimum
# (`avail>=low`) is a wish for confirmed stock, so it hides unknown availability.
StockLevel = Literal["low", "medium", "high"]
# Why an instance is in its status, where the provider says and the status alone does
# not: `outbid` (an interruptible machine stopped by a higher bid), `preempted`.
StatusReason = Literal["outbid", "preempted"]

# Each word list once, in its Literal; the tuples are read from them, in their order.
CATEGORIES: tuple[Category, ...] = get_args(Category)
SORT_KEYS: tuple[SortBy, ...] = get_args(SortBy)
AVAILABILITY_LEVELS: tuple[Availability, ...] = get_args(Availability)
STOCK_LEVELS: tuple[StockLevel, ...] = get_args(StockLevel)
INSTANCE_STATUSES: tuple[InstanceStatus, ...] = get_args(InstanceStatus)


def levels_at_least(minimum: StockLevel) -> tuple[StockLevel, ...]:
    """The stock levels that meet a minimum: `low` -> (low, medium, high)."""
    return STOCK_LEVELS[STOCK_LEVELS.index(minimum) :]


# The price history's resolutions (store/history.py keeps each for its own span).
Resolution = Literal["raw", "hourly", "daily"]
RESOLUTIONS: tuple[Resolution, ...] = get_args(Resolution)


# An environment variable's name as a launch may set it: the one rule the CLI, the API,
# the TUI's form, a watch's launch template and the Vast adapter all check.
ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
