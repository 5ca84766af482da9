"""The demo market: a deterministic, seeded simulation of the four providers.

The market is a pure function of (seed, tick): the same tick always yields the same
offers, so snapshot tests are stable, and separate commands see the same market
because each provider's tick lives in the store. Each refresh advances that
provider's tick by one; offers then drift in price, vanish and reappear.

Price levels are typical 2026 list and marketplace prices per GPU-hour; they are
labelled DEMO everywhere they show and are never presented as real quotes.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from gpucm.domain.clock import Clock, utcnow
from gpucm.domain.models import Availability, NetworkInfo, Offer, offer_id
from gpucm.domain.pricing import EGRESS_PER_GB_KEY
from gpucm.domain.provider_names import LAMBDA_LABS, PAPERSPACE, PROVIDERS, RUNPOD, VAST_AI
from gpucm.providers.demo_instances import DemoInstances, DemoState
from gpucm.providers.paperspace_parse import build_offers, load_catalogue
from gpucm.providers.values import slug

T = TypeVar("T")

DEMO_SEED = 20261126

# Base price per GPU-hour at a Vast.ai-like marketplace, by catalog model name.
BASE_GPU_PRICE: dict[str, float] = {
    "RTX 5090": 0.62,
    "RTX 5080": 0.36,
    "RTX 4090": 0.40,
    "RTX 4080 Super": 0.27,
    "RTX 4080": 0.25,
    "RTX 4070 Ti": 0.18,
    "RTX 4070": 0.14,
    "RTX 4060 Ti 16GB": 0.11,
    "RTX 3090 Ti": 0.25,
    "RTX 3090": 0.22,
    "RTX 3080 Ti": 0.17,
    "RTX 3080": 0.15,
    "RTX 3070": 0.10,
    "RTX 3060": 0.08,
    "RTX 2080 Ti": 0.10,
    "GTX 1080 Ti": 0.07,
    "RTX A4000": 0.17,
    "RTX A5000": 0.25,
    "RTX A6000": 0.45,
    "RTX 4000 Ada": 0.20,
    "RTX 6000 Ada": 0.75,
    "Quadro RTX 8000": 0.35,
    "Quadro RTX 6000": 0.30,
    "Quadro RTX 4000": 0.12,
    "Quadro P4000": 0.09,
    "A40": 0.40,
    "A10": 0.50,
    "L4": 0.35,
    "L40": 0.80,
    "L40S": 0.85,
    "T4": 0.18,
    "V100 16GB": 0.20,
    "V100 32GB": 0.30,
    "A100 40GB PCIe": 0.70,
    "A100 40GB SXM": 0.80,
    "A100 80GB PCIe": 1.10,
    "A100 80GB SXM": 1.20,
    "H100 PCIe": 1.80,
    "H100": 2.10,
    "H100 NVL": 2.30,
    "H200 SXM": 3.20,
    "GH200": 1.60,
    "B200": 4.50,
    "MI300X": 2.00,
    "RX 7900 XTX": 0.30,
}

_VAST_MODELS: tuple[tuple[str, int], ...] = (
    ("RTX 4090", 22),
    ("RTX 3090", 14),
    ("RTX 5090", 8),
    ("RTX 4080", 4),
    ("RTX 4080 Super", 2),
    ("RTX 4070 Ti", 3),
    ("RTX 4070", 3),
    ("RTX 4060 Ti 16GB", 3),
    ("RTX 3090 Ti", 2),
    ("RTX 3080 Ti", 2),
    ("RTX 3080", 4),
    ("RTX 3070", 4),
    ("RTX 3060", 4),
    ("RTX 2080 Ti", 2),
    ("GTX 1080 Ti", 1),
    ("RTX A4000", 3),
    ("RTX A5000", 3),
    ("RTX A6000", 5),
    ("RTX 4000 Ada", 2),
    ("RTX 6000 Ada", 3),
    ("Quadro RTX 8000", 1),
    ("A40", 3),
    ("L40S", 3),
    ("L4", 2),
    ("T4", 1),
    ("V100 16GB", 1),
    ("V100 32GB", 1),
    ("A100 40GB PCIe", 2),
    ("A100 80GB PCIe", 2),
    ("A100 80GB SXM", 3),
    ("H100 PCIe", 2),
    ("H100", 4),
    ("H100 NVL", 1),
    ("H200 SXM", 2),
    ("B200", 1),
    ("MI300X", 1),
    ("RX 7900 XTX", 1),
)

_VAST_REGIONS: tuple[tuple[str, int], ...] = (
    ("Texas, US", 9),
    ("California, US", 8),
    ("Virginia, US", 6),
    ("New York, US", 4),
    ("Washington, US", 3),
    ("Illinois, US", 3),
    ("Florida, US", 3),
    ("Georgia, US", 2),
    ("Oregon, US", 2),
    ("Quebec, CA", 4),
    ("Ontario, CA", 3),
    ("Bavaria, DE", 3),
    ("Hesse, DE", 2),
    ("North Holland, NL", 3),
    ("Norway", 2),
    ("Stockholm, SE", 2),
    ("Mazovia, PL", 2),
    ("Bucharest, RO", 2),
    ("Ile-de-France, FR", 2),
    ("England, GB", 2),
    ("Czechia", 1),
    ("Tokyo, JP", 2),
    ("Seoul, KR", 2),
    ("Taipei, TW", 2),
    ("Singapore", 1),
    ("Hong Kong, HK", 1),
    ("New South Wales, AU", 1),
    ("Sao Paulo, BR", 1),
)

# (catalog model, RunPod type id, RunPod display name): ids are slugs of display names,
# as the real adapter makes them.
_RUNPOD_TYPES: tuple[tuple[str, str, str], ...] = (
    ("RTX 4090", "NVIDIA GeForce RTX 4090", "RTX 4090"),
    ("RTX 5090", "NVIDIA GeForce RTX 5090", "RTX 5090"),
    ("RTX 3090", "NVIDIA GeForce RTX 3090", "RTX 3090"),
    ("RTX 4080", "NVIDIA GeForce RTX 4080", "RTX 4080"),
    ("RTX A4000", "NVIDIA RTX A4000", "RTX A4000"),
    ("RTX A5000", "NVIDIA RTX A5000", "RTX A5000"),
    ("RTX A6000", "NVIDIA RTX A6000", "RTX A6000"),
    ("RTX 6000 Ada", "NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada"),
    ("RTX 4000 Ada", "NVIDIA RTX 4000 Ada Generation", "RTX 4000 Ada"),
    ("A40", "NVIDIA A40", "A40"),
    ("L4", "NVIDIA L4", "L4"),
    ("L40", "NVIDIA L40", "L40"),
    ("L40S", "NVIDIA L40S", "L40S"),
    ("A100 80GB PCIe", "NVIDIA A100 80GB PCIe", "A100 PCIe"),
    ("A100 80GB SXM", "NVIDIA A100-SXM4-80GB", "A100 SXM"),
    ("H100 PCIe", "NVIDIA H100 PCIe", "H100 PCIe"),
    ("H100", "NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("H100 NVL", "NVIDIA H100 NVL", "H100 NVL"),
    ("H200 SXM", "NVIDIA H200", "H200 SXM"),
    ("B200", "NVIDIA B200", "B200"),
    ("MI300X", "AMD Instinct MI300X OAM", "MI300X"),
)
_RUNPOD_SECURE_DCS = ("US-TX-3", "US-KS-2", "US-GA-1", "CA-MTL-1", "EU-RO-1", "EU-SE-1", "EUR-IS-1")
_RUNPOD_COMMUNITY_COUNTRIES = ("US", "CA", "DE", "NL", "SE", "PL", "CZ", "JP", "KR", "BR")

# (instance type, catalog model, GPUs, list $/h for the instance, vCPUs, RAM GiB, disk GiB)
_LAMBDA_TYPES: tuple[tuple[str, str, int, float, int, int, int], ...] = (
    ("gpu_1x_a10", "A10", 1, 0.75, 30, 200, 1400),
    ("gpu_1x_a6000", "RTX A6000", 1, 0.80, 14, 46, 512),
    ("gpu_2x_a6000", "RTX A6000", 2, 1.60, 28, 92, 1024),
    ("gpu_4x_a6000", "RTX A6000", 4, 3.20, 56, 184, 2048),
    ("gpu_1x_rtx6000", "Quadro RTX 6000", 1, 0.50, 14, 46, 512),
    ("gpu_1x_a100", "A100 40GB PCIe", 1, 1.29, 30, 200, 512),
    ("gpu_1x_a100_sxm4", "A100 40GB SXM", 1, 1.29, 30, 200, 512),
    ("gpu_8x_a100", "A100 40GB SXM", 8, 10.32, 124, 1800, 6144),
    ("gpu_8x_a100_80gb_sxm4", "A100 80GB SXM", 8, 14.32, 240, 1800, 19968),
    ("gpu_1x_h100_pcie", "H100 PCIe", 1, 2.49, 26, 200, 1024),
    ("gpu_1x_h100_sxm5", "H100", 1, 3.29, 26, 225, 2816),
    ("gpu_2x_h100_sxm5", "H100", 2, 6.38, 52, 450, 5632),
    ("gpu_4x_h100_sxm5", "H100", 4, 12.36, 104, 900, 11264),
    ("gpu_8x_h100_sxm5", "H100", 8, 23.92, 208, 1800, 22528),
    ("gpu_1x_gh200", "GH200", 1, 1.49, 64, 432, 4096),
    ("gpu_8x_b200_sxm6", "B200", 8, 39.92, 208, 2900, 22528),
    ("gpu_8x_v100", "V100 16GB", 8, 4.40, 88, 448, 6041),
)
_LAMBDA_REGIONS = (
    "us-east-1",
    "us-west-1",
    "us-south-1",
    "us-midwest-1",
    "europe-central-1",
    "asia-northeast-1",
    "me-west-1",
)


def _unit(*parts: object) -> float:
    """A reproducible uniform [0, 1) from any parts, stable across platforms and runs."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class _Slot:
    """One place in a provider's market where an offer can exist."""

    provider: str
    key: str
    gpu_name: str
    model: str
    gpu_count: int
    base_price: float  # $/h for the whole offer before drift
    region: str
    country: str | None
    vcpus: float | None
    ram_gb: float | None
    storage_gb: float | None
    storage_price: float | None
    reliability: float | None
    download: float | None
    upload: float | None
    cuda: float | None
    verified: bool | None
    lifetime: int  # ticks an offer lives before it may vanish
    list_priced: bool  # list prices move rarely and in steps
    provider_data: tuple[tuple[str, str | int | float], ...]


class DemoMarket:
    """Builds the slots once from the seed; `offers(provider, tick)` is pure."""

    def __init__(self, seed: int = DEMO_SEED, vast_slots: int = 900) -> None:
        self.seed = seed
        rng = random.Random(seed)
        self._slots: dict[str, list[_Slot]] = {
            VAST_AI: self._vast(rng, vast_slots),
            RUNPOD: self._runpod(rng),
            LAMBDA_LABS: self._lambda(rng),
        }
        # Paperspace has no price API: the real adapter prices from a packaged
        # catalogue, and so does the demo (only availability is simulated).
        self._paperspace = load_catalogue()

    def slot_count(self, provider: str) -> int:
        if provider == PAPERSPACE:
            return sum(len(m.regions) for m in self._paperspace.machine_types if m.is_gpu)
        return len(self._slots[provider])

    # -- slot builders ------------------------------------------------------------

    def _vast(self, rng: random.Random, n: int) -> list[_Slot]:
        models = [m for m, _ in _VAST_MODELS]
        weights = [w for _, w in _VAST_MODELS]
        regions = [r for r, _ in _VAST_REGIONS]
        region_weights = [w for _, w in _VAST_REGIONS]
        slots = []
        for i in range(n):
            model = rng.choices(models, weights)[0]
            big = BASE_GPU_PRICE[model] >= 1.0
            count = rng.choices((1, 2, 4, 8), (25, 25, 25, 25) if big else (58, 22, 12, 8))[0]
            region = rng.choices(regions, region_weights)[0]
            country = region.rsplit(",", 1)[-1].strip() if "," in region else None
            host_factor = rng.uniform(0.8, 1.35)
            per_gpu_ram = rng.choice((16, 24, 32, 48, 64, 96, 128))
            slots.append(
                _Slot(
                    provider=VAST_AI,
                    key=str(9_100_000 + i),
                    gpu_name=model,
                    model=model,
                    gpu_count=count,
                    base_price=BASE_GPU_PRICE[model] * count * host_factor,
                    region=region,
                    country=country,
                    vcpus=float(count * rng.choice((4, 6, 8, 12, 16, 24))),
                    ram_gb=float(count * per_gpu_ram),
                    storage_gb=float(rng.choice((100, 200, 250, 500, 1000, 2000))),
                    storage_price=round(rng.uniform(0.08, 0.3), 3),
                    reliability=round(min(0.9995, 0.78 + rng.betavariate(5, 1) * 0.22), 4),
                    download=float(rng.choice((250, 500, 800, 1000, 2000, 5000, 9000))),
                    upload=float(rng.choice((100, 250, 500, 800, 1000, 2000))),
                    cuda=rng.choice((12.2, 12.4, 12.6, 12.8, 12.8, 12.9, 13.0)),
                    verified=rng.random() < 0.85,
                    lifetime=rng.randint(3, 14),
                    list_priced=False,
                    # the ask id is the provider id; Vast bills egress per GB, each
                    # machine at its own rate (no draw from rng: the market stays as it was)
                    provider_data=((EGRESS_PER_GB_KEY, (1 + i % 4) / 1024),),
                )
            )
        return slots

    def _runpod(self, rng: random.Random) -> list[_Slot]:
        slots = []
        for model, type_id, display in _RUNPOD_TYPES:
            for cloud in ("SECURE", "COMMUNITY"):
                for count in (1, 2, 4, 8):
                    if cloud == "COMMUNITY" and BASE_GPU_PRICE[model] >= 3.0:
                        continue
                    factor = 1.55 if cloud == "SECURE" else 1.12
                    region = (
                        rng.choice(_RUNPOD_SECURE_DCS)
                        if cloud == "SECURE"
                        else rng.choice(_RUNPOD_COMMUNITY_COUNTRIES)
                    )
                    slots.append(
                        _Slot(
                            provider=RUNPOD,
                            key=f"{slug(display)}-{cloud.lower()}-{count}",
                            gpu_name=model,
                            model=model,
                            gpu_count=count,
                            base_price=BASE_GPU_PRICE[model] * count * factor,
                            region=region,
                            country=None,
                            vcpus=float(count * rng.choice((6, 8, 9, 12, 16))),
                            ram_gb=float(count * rng.choice((29, 41, 50, 62, 83, 125))),
                            storage_gb=None,
                            storage_price=0.10,
                            reliability=None,
                            download=None,
                            upload=None,
                            cuda=None,
                            verified=cloud == "SECURE",
                            lifetime=rng.randint(4, 20),
                            list_priced=True,
                            provider_data=(
                                ("gpu_type_id", type_id),
                                ("cloud_type", cloud),
                                ("gpu_count", count),
                            ),
                        )
                    )
        return slots

    def _lambda(self, rng: random.Random) -> list[_Slot]:
        slots = []
        for type_name, model, count, price, vcpus, ram, disk in _LAMBDA_TYPES:
            for region in rng.sample(_LAMBDA_REGIONS, k=rng.randint(3, 6)):
                slots.append(
                    _Slot(
                        provider=LAMBDA_LABS,
                        key=f"{type_name}@{region}",
                        gpu_name=model,
                        model=model,
                        gpu_count=count,
                        base_price=price,
                        region=region,
                        country=None,
                        vcpus=float(vcpus),
                        ram_gb=float(ram),
                        storage_gb=float(disk),
                        storage_price=None,
                        reliability=None,
                        download=None,
                        upload=None,
                        cuda=None,
                        verified=True,
                        lifetime=rng.randint(2, 8),
                        list_priced=True,
                        provider_data=(("instance_type", type_name), ("region", region)),
                    )
                )
        return slots

    # -- the market at a tick -----------------------------------------------------

    def price_at(self, slot: _Slot, tick: int) -> float:
        if slot.list_priced:
            # List prices change in steps every ~40 ticks, by a few percent.
            step = (tick + int(_unit(self.seed, slot.key, "phase") * 40)) // 40
            factor = 1.0 + 0.06 * (_unit(self.seed, slot.key, "step", step) - 0.5)
        else:
            # Marketplace prices: a slow per-model wave plus a per-host wobble.
            model_phase = _unit(self.seed, slot.model, "phase")
            slot_phase = _unit(self.seed, slot.key, "phase")
            factor = (
                1.0
                + 0.12 * math.sin(2 * math.pi * (tick / 24 + model_phase))
                + 0.05 * math.sin(2 * math.pi * (tick / 7 + slot_phase))
                + 0.03 * (_unit(self.seed, slot.key, tick) - 0.5)
            )
        return round(slot.base_price * factor, 3)

    def is_listed(self, slot: _Slot, tick: int) -> bool:
        epoch = (tick + int(_unit(self.seed, slot.key, "life") * slot.lifetime)) // slot.lifetime
        return _unit(self.seed, slot.key, "listed", epoch) < 0.9

    def is_available(self, slot: _Slot, tick: int) -> bool:
        # Lambda and RunPod keep sold-out types listed as unavailable.
        if slot.provider in (LAMBDA_LABS, RUNPOD):
            return _unit(self.seed, slot.key, "stock", tick // 3) < 0.75
        return _unit(self.seed, slot.key, "rented", tick // 2) < 0.93

    def availability(self, slot: _Slot, tick: int) -> Availability:
        """The stock level each provider reports: a Vast host is there or rented (high
        or none), a Lambda region has capacity or not (medium or none), and a RunPod
        data centre's level moves with the market. Paperspace says nothing (unknown)."""
        if not self.is_available(slot, tick):
            return "none"
        if slot.provider == VAST_AI:
            return "high"
        if slot.provider == LAMBDA_LABS:
            return "medium"
        level = _unit(self.seed, slot.key, "level", tick // 3)
        return "high" if level < 0.45 else "medium" if level < 0.8 else "low"

    def offers(self, provider: str, tick: int, fetched_at: datetime) -> list[Offer]:
        if provider == PAPERSPACE:
            return build_offers(self._paperspace, fetched_at)
        result = []
        for slot in self._slots[provider]:
            if not self.is_listed(slot, tick):
                continue
            price = self.price_at(slot, tick)
            spot = round(price * 0.6, 3) if provider in (VAST_AI, RUNPOD) else None
            min_bid = round(spot / slot.gpu_count, 4) if spot is not None else None
            result.append(
                Offer(
                    id=offer_id(provider, slot.key),
                    provider=provider,
                    provider_id=slot.key,
                    gpu_name=slot.gpu_name,
                    gpu_count=slot.gpu_count,
                    price_per_hour=price,
                    spot_price_per_hour=spot,
                    min_bid_per_gpu_hour=min_bid,
                    storage_price_per_gb_month=slot.storage_price,
                    vcpus=slot.vcpus,
                    ram_gb=slot.ram_gb,
                    storage_gb=slot.storage_gb,
                    region=slot.region,
                    country=slot.country,
                    reliability=slot.reliability,
                    network_info=NetworkInfo(download_mbps=slot.download, upload_mbps=slot.upload),
                    cuda_version=slot.cuda,
                    verified=slot.verified,
                    availability=self.availability(slot, tick),
                    fetched_at=fetched_at,
                    provider_data=dict(slot.provider_data),
                )
            )
        return result


def _next(value: Any) -> tuple[int, int]:
    tick = int(value or 0) + 1
    return tick, tick


class DemoProvider(DemoInstances):
    """One of the four simulated providers, shaped like a real adapter: offers, and the
    whole instance lifecycle (see providers/demo_instances.py)."""

    is_demo = True

    def __init__(
        self,
        name: str,
        market: DemoMarket,
        state: DemoState,
        *,
        clock: Clock = utcnow,
        latency: float = 0.0,
    ) -> None:
        if name not in PROVIDERS:
            raise ValueError(f"unknown provider {name!r}")
        self._name = name
        self._market = market
        self._state = state
        self._clock = clock
        self._latency = latency

    @property
    def name(self) -> str:
        return self._name

    async def fetch_offers(self) -> list[Offer]:
        if self._latency:
            await asyncio.sleep(self._latency)
        tick = await self._state.update(f"tick:{self._name}", _next)
        return self._market.offers(self._name, tick, self._clock())

    async def quote(self, offer: Offer) -> Offer | None:
        tick = int(await self._state.load(f"tick:{self._name}") or 0)
        for current in self._market.offers(self._name, tick, self._clock()):
            if current.id == offer.id:
                return current if current.available else None
        return None

    async def aclose(self) -> None:
        return None
