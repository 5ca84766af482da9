"""Builds the real adapter for a configured provider."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx

from gpucm.config import ProviderSettings
from gpucm.providers.base import OfferSource


def make_adapter(
    name: str,
    settings: ProviderSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    secrets: Callable[[], Sequence[str]] = list,
) -> OfferSource:
    raise NotImplementedError(f"the {name} adapter arrives with the provider issue")
