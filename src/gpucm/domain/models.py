"""Domain models shared by every layer.

Schemas are built on first use (`defer_build`): building all of them at import cost
~35 ms of every start, most of it for models a given command never touches.

Field names follow the original GPU Cloud Manager API so JSON output matches it
(`gpu_info`, `network_info`, `model_stats`, `provider_stats`, ...). Pure data: no IO.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
    model_validator,
)

from gpucm.domain.hosts import offer_host
from gpucm.domain.vocabulary import AVAILABILITY_LEVELS as AVAILABILITY_LEVELS
from gpucm.domain.vocabulary import BILLED as BILLED
from gpucm.domain.vocabulary import CATEGORIES as CATEGORIES
from gpucm.domain.vocabulary import INSTANCE_STATUSES as INSTANCE_STATUSES
from gpucm.domain.vocabulary import SORT_KEYS as SORT_KEYS
from gpucm.domain.vocabulary import STOCK_LEVELS as STOCK_LEVELS
from gpucm.domain.vocabulary import Availability as Availability
from gpucm.domain.vocabulary import Category as Category
from gpucm.domain.vocabulary import InstanceStatus as InstanceStatus
from gpucm.domain.vocabulary import SortBy as SortBy
from gpucm.domain.vocabulary import SortOrder as SortOrder
from gpucm.domain.vocabulary import StatusReason as StatusReason
from gpucm.domain.vocabulary import StockLevel as StockLevel
from gpucm.domain.vocabulary import Vendor as Vendor
from gpucm.domain.vocabulary import levels_at_least as levels_at_least
from gpucm.domain.workload_fit import parse_workload


class GpuModel(BaseModel):
    """One GPU product from the catalog (specs per GPU)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    family: str
    vendor: Vendor
    category: Category
    architecture: str
    memory_gb: float
    compute_capability: float | None = None
    performance_score: int = Field(ge=0, le=150)
    memory_bandwidth_gbps: float | None = None
    fp32_tflops: float | None = None
    fp16_tflops: float | None = None
    tdp_watts: int | None = None
    form_factor: str | None = None
    aliases: tuple[str, ...] = ()

    @classmethod
    def unknown(cls, raw_name: str, memory_gb: float | None = None) -> GpuModel:
        """Placeholder for a GPU the catalog does not know: kept, never dropped."""
        name = " ".join(raw_name.split()) or "unknown"
        return cls(
            name=name,
            family=name,
            vendor="unknown",
            category="unknown",
            architecture="unknown",
            memory_gb=memory_gb or 0.0,
            performance_score=0,
        )

    @property
    def is_unknown(self) -> bool:
        return self.category == "unknown"


class NetworkInfo(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    download_mbps: float | None = None
    upload_mbps: float | None = None


class Offer(BaseModel):
    """A rentable configuration at one provider, as of `fetched_at`.

    `price_per_hour` is what the provider bills for the whole offer (all GPUs),
    on demand. `spot_price_per_hour` is the same offer rented interruptible at the
    lowest price the provider takes now (None: no interruptible rental), including what
    `price_per_hour` includes; `min_bid_per_gpu_hour` is the lowest bid per GPU-hour a
    launch may send. Adapters fill the provider-side fields; `domain.normalize` fills
    the canonical ones (gpu_model, gpu_family, gpu_category, performance, region_group,
    gpu_info).

    `availability` is the stock level; `available` (the original API's field) is true
    unless the level is `none`. Give either: the other follows (`available=False`
    alone means `none`, `available=True` alone `unknown`).
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    provider: str
    provider_id: str
    gpu_model: str = ""
    gpu_name: str
    gpu_family: str = ""
    gpu_category: Category = "unknown"
    gpu_info: GpuModel | None = None
    gpu_count: int = Field(ge=1)
    gpu_memory_gb: float | None = None
    price_per_hour: float = Field(ge=0)
    spot_price_per_hour: float | None = None
    min_bid_per_gpu_hour: float | None = None
    storage_price_per_gb_month: float | None = None
    vcpus: float | None = None
    ram_gb: float | None = None
    storage_gb: float | None = None
    region: str = ""
    region_group: str | None = None
    country: str | None = None
    reliability: float | None = Field(default=None, ge=0, le=1)
    performance: int | None = None
    network_info: NetworkInfo = NetworkInfo()
    cuda_version: float | None = None
    verified: bool | None = None
    available: bool = True
    availability: Availability = "unknown"
    fetched_at: datetime
    first_seen_at: datetime | None = None
    previous_price_per_hour: float | None = None
    stale: bool = False
    provider_data: dict[str, Any] = Field(default_factory=dict)
    # the machine it runs on, for the memory of bad hosts (domain/hosts.py): filled in
    # from the provider's data when not given
    host_id: str = ""

    @model_validator(mode="before")
    @classmethod
    def _host(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("host_id") and "id" in data:
            host = offer_host(
                str(data.get("provider", "")), str(data["id"]), data.get("provider_data") or {}
            )
            data = {**data, "host_id": host}
        return data

    @model_validator(mode="before")
    @classmethod
    def _availability_and_available(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        level = data.get("availability")
        flag = data.get("available")
        if level is None:
            if flag is not None:
                data = {**data, "availability": "unknown" if flag else "none"}
        elif flag is None:
            data = {**data, "available": level != "none"}
        elif bool(flag) != (level != "none"):
            raise ValueError(f"available={flag!r} contradicts availability={level!r}")
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def price_per_gpu_hour(self) -> float:
        return self.price_per_hour / self.gpu_count

    @computed_field  # type: ignore[prop-decorator]
    @property
    def value(self) -> float | None:
        """Dollars per hour per performance point: lower is better."""
        return value_per_point(self.price_per_hour, self.performance, self.gpu_count)


def value_per_point(price_per_hour: float, performance: int | None, gpu_count: int) -> float | None:
    if not performance:
        return None
    return price_per_hour / (performance * gpu_count)


def offer_id(provider: str, provider_id: str) -> str:
    """Provider-qualified offer id, stable across refreshes for the same provider id."""
    return f"{provider}:{provider_id}"


class PortSpec(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    container_port: int = Field(ge=1, le=65535)
    protocol: Literal["tcp", "udp", "http"] = "tcp"
    host_port: int | None = Field(default=None, ge=1, le=65535)


class ResourceRequest(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)

    min_ram_gb: float | None = Field(default=None, ge=0)
    min_storage_gb: float | None = Field(default=None, ge=0)
    min_gpus: int | None = Field(default=None, ge=1)


class LaunchRequest(BaseModel):
    """The original API's create body, plus gpucm's safety fields."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    provider: str
    offer_id: str
    image: str | None = None
    label: str | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    ports: list[PortSpec] = Field(default_factory=list)
    resources: ResourceRequest = ResourceRequest()
    onstart_script: str | None = None
    ssh_key: str | None = None
    disk_gb: float | None = Field(default=None, gt=0)
    max_price_per_hour: float | None = Field(default=None, gt=0)
    auto_terminate_hours: float | None = Field(default=None, gt=0)
    request_id: str | None = None
    # rent the offer interruptible (spot), bidding this much per GPU-hour (default: the
    # offer's minimum bid plus a small margin); a higher bid stops the machine
    interruptible: bool = False
    bid_price_per_gpu: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _bid_needs_interruptible(self) -> LaunchRequest:
        if self.bid_price_per_gpu is not None and not self.interruptible:
            raise ValueError("bid_price_per_gpu is for interruptible launches: add interruptible")
        return self

    def __repr__(self) -> str:
        # environment values are secrets (tokens, keys): never in reprs or logs
        env = {k: "***" for k in self.environment}
        return (
            f"LaunchRequest(provider={self.provider!r}, offer_id={self.offer_id!r}, "
            f"image={self.image!r}, label={self.label!r}, environment={env!r})"
        )

    __str__ = __repr__


class Instance(BaseModel):
    """A machine the user runs (or ran) at a provider."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    provider: str
    provider_id: str
    name: str = ""  # as the provider has it: for a launch by gpucm, sanitised and tagged
    label: str | None = None  # as the user typed it at launch
    launched_by: str | None = None  # user@host of the gpucm that launched it
    origin: str | None = None  # what launched it when not a person: `watch NAME`
    status: InstanceStatus
    raw_status: str | None = None
    gpu_model: str | None = None
    gpu_name: str | None = None
    gpu_count: int = 0
    cpu_count: float | None = None
    ram_gb: float | None = None
    storage_gb: float | None = None
    price_per_hour: float | None = None
    region: str | None = None
    image: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    ssh_user: str | None = None
    public_ip: str | None = None
    offer_id: str | None = None
    request_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    # rented interruptible (spot): a higher bid can stop it
    interruptible: bool = False
    status_reason: StatusReason | None = None
    # What the spend ledger needs to know about billing. `rate_reported`: the provider
    # reports `price_per_hour` as the rate it bills this machine (RunPod's pod `cost`,
    # Vast's `dph_total`), not a list price gpucm looked up. `stopped_per_hour`: what
    # it bills while stopped (its disk), None where nothing is; `stopped_reported` as
    # `rate_reported`, for that figure.
    rate_reported: bool = False
    stopped_per_hour: float | None = None
    stopped_reported: bool = False
    provider_data: dict[str, Any] = Field(default_factory=dict)


LaunchState = Literal["pending", "done", "failed", "unknown"]


class LaunchRecord(BaseModel):
    """One launch request in the store's journal, written before the provider is
    called. `request` is the request with environment values masked."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    request_id: str
    created_at: datetime
    updated_at: datetime
    state: LaunchState
    provider: str
    offer_id: str
    label: str
    request: dict[str, Any] = Field(default_factory=dict)
    instance_id: str | None = None
    error: str | None = None
    # a hash of what was asked for: the same request id with another request is refused
    fingerprint: str | None = None
    # the all-in $/h held against the budget while the launch is on its way
    reserved_per_hour: float = 0.0


# integers the store can bind: larger ones are a validation error, not an OverflowError
SQLITE_MAX_INT = 2**63 - 1


class SearchQuery(BaseModel):
    """Every filter of the original search API, plus gpucm's own.

    `available=True` keeps only offers that can be rented now; False includes the rest.
    `min_availability` keeps only offers whose provider confirms at least that much
    stock (so it hides `unknown` availability).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    available: bool = True
    gpu_models: tuple[str, ...] = ()
    gpu_category: Category | None = None
    min_gpu_count: int | None = Field(default=None, ge=1, le=SQLITE_MAX_INT)
    min_price: float | None = Field(default=None, ge=0)
    max_price: float | None = Field(default=None, ge=0)
    min_ram: float | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("min_ram", "min_ram_gb")
    )
    min_storage: float | None = Field(
        default=None, ge=0, validation_alias=AliasChoices("min_storage", "min_storage_gb")
    )
    regions: tuple[str, ...] = ()
    min_reliability: float | None = Field(default=None, ge=0, le=1)
    min_performance: float | None = Field(default=None, ge=0)
    providers: tuple[str, ...] = ()
    min_gpu_memory: float | None = Field(default=None, ge=0)
    min_cuda: float | None = Field(default=None, ge=0)
    min_availability: StockLevel | None = None
    # a workload that must fit in the offer's VRAM (domain/workload_fit.py), canonical
    fits: str | None = None
    # offers on hosts in the memory of bad hosts are hidden ("good") or shown ("all");
    # `bad_hosts` are the host keys to hide, which the store fills in from its memory
    hosts: Literal["good", "all"] = "good"
    bad_hosts: tuple[str, ...] = Field(default=(), max_length=10_000)
    sort_by: SortBy = "price"
    sort_order: SortOrder = "asc"
    limit: int | None = Field(default=None, ge=1, le=SQLITE_MAX_INT)
    offset: int = Field(default=0, ge=0, le=SQLITE_MAX_INT)

    @model_validator(mode="before")
    @classmethod
    def _merge_singular_fields(cls, data: Any) -> Any:
        # The original clients send `gpu_model`, `provider` and `region` singular.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for single, plural in (
            ("gpu_model", "gpu_models"),
            ("provider", "providers"),
            ("region", "regions"),
        ):
            value = data.pop(single, None)
            if value:
                existing = list(data.get(plural) or ())
                if value not in existing:
                    existing.insert(0, value)
                data[plural] = existing
        return data

    @field_validator("gpu_models", "regions", "providers", mode="before")
    @classmethod
    def _clean_terms(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            # a dict keeps the first-seen order and dedupes in O(1) per term
            seen = dict.fromkeys(" ".join(str(item).split()) for item in value)
            seen.pop("", None)
            return tuple(seen)
        return value

    @field_validator("fits", mode="before")
    @classmethod
    def _canonical_workload(cls, value: Any) -> Any:
        if value is None or not isinstance(value, str):
            return value
        if not value.strip():
            return None
        # a FitError is a ValueError: pydantic reports it as this field's error
        return parse_workload(value).text()

    @model_validator(mode="after")
    def _check_ranges(self) -> SearchQuery:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError("min_price is above max_price")
        return self

    def is_default(self) -> bool:
        return self == SearchQuery()


class PriceRange(BaseModel):
    model_config = ConfigDict(defer_build=True)

    min: float = 0.0
    max: float = 0.0
    avg: float = 0.0


class ModelStats(BaseModel):
    """Per-model market summary, shaped like the original `model_stats` entries."""

    model_config = ConfigDict(defer_build=True)

    model: GpuModel
    available_count: int
    offer_count: int
    min_price: float
    max_price: float
    avg_price: float
    median_price: float | None = None
    p10_price: float | None = None
    p90_price: float | None = None
    min_price_per_gpu: float | None = None
    median_price_per_gpu: float | None = None
    p10_price_per_gpu: float | None = None
    p90_price_per_gpu: float | None = None
    max_price_per_gpu: float | None = None
    avg_price_per_gpu: float | None = None
    providers: list[str]


class MarketStats(BaseModel):
    model_config = ConfigDict(defer_build=True)

    total_instances: int
    available_instances: int
    model_stats: dict[str, ModelStats]
    provider_stats: dict[str, int]
    average_price: float
    price_range: PriceRange
    updated_at: datetime | None = None


class ProviderHealth(BaseModel):
    """What the store knows about one provider's last refreshes."""

    model_config = ConfigDict(defer_build=True)

    provider: str
    status: Literal["ok", "stale", "failing", "circuit_open", "never"] = "never"
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    latency_ms: float | None = None
    offer_count: int = 0
    consecutive_failures: int = 0
    next_attempt_at: datetime | None = None


class ProviderInfo(BaseModel):
    """The original `/providers` entry, plus health."""

    model_config = ConfigDict(defer_build=True)

    name: str
    display_name: str
    website: str
    regions: list[str]
    gpu_models: list[str]
    features: list[str]
    is_configured: bool
    is_demo: bool = False
    health: ProviderHealth | None = None
