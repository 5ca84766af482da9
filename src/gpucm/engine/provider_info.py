"""The original `/providers` entries: each provider's static facts (registry), the GPU
models it lists now and its refresh health (store). Shared by `gpucm providers` and
`GET /api/v1/providers`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from gpucm.domain.models import ProviderHealth, ProviderInfo
from gpucm.providers.registry import PROVIDER_META


class ProviderInfoStore(Protocol):
    async def health(self) -> dict[str, ProviderHealth]: ...

    async def provider_models(self) -> dict[str, list[str]]: ...


async def provider_infos(
    store: ProviderInfoStore, configured: Collection[str], *, demo: bool
) -> list[ProviderInfo]:
    """Every provider gpucm knows; `configured`: the providers with a key set."""
    health = await store.health()
    models = await store.provider_models()
    return [
        ProviderInfo(
            name=name,
            display_name=meta.display_name + (" (demo)" if demo else ""),
            website=meta.website,
            regions=list(meta.regions),
            gpu_models=models.get(name, []),
            features=meta.capabilities.features(),
            is_configured=demo or name in configured,
            is_demo=demo,
            health=health.get(name),
        )
        for name, meta in PROVIDER_META.items()
    ]
