"""Builds the real adapter for a configured provider."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gpucm.config import ProviderSettings
from gpucm.domain.clock import Clock, utcnow
from gpucm.domain.provider_names import LAMBDA_LABS, PAPERSPACE, RUNPOD, VAST_AI
from gpucm.providers.adapter import HttpAdapter
from gpucm.providers.http import Limits
from gpucm.providers.lambdalabs import LambdaLabsAdapter
from gpucm.providers.paperspace import PaperspaceAdapter
from gpucm.providers.runpod import RunPodAdapter
from gpucm.providers.vastai import VastAiAdapter

ADAPTERS: dict[str, type[HttpAdapter]] = {
    VAST_AI: VastAiAdapter,
    RUNPOD: RunPodAdapter,
    LAMBDA_LABS: LambdaLabsAdapter,
    PAPERSPACE: PaperspaceAdapter,
}


if TYPE_CHECKING:
    import httpx


def make_adapter(
    name: str,
    settings: ProviderSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    secrets: Callable[[], Sequence[str]] = list,
    clock: Clock = utcnow,
    timeout: float = 30.0,
) -> HttpAdapter:
    try:
        cls = ADAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}") from None
    limits = Limits(
        read_timeout=timeout, connect_timeout=min(10.0, timeout), total_timeout=3 * timeout
    )
    return cls(settings, transport=transport, secrets=secrets, clock=clock, limits=limits)
