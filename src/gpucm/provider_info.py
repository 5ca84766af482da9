"""The original `/providers` entries: each provider's static facts (registry), the GPU
models it lists now and its refresh health (store). Shared by `gpucm providers` and
`GET /api/v1/providers`."""

from __future__ import annotations

from gpucm.domain.models import ProviderInfo
from gpucm.providers.registry import PROVIDER_META
from gpucm.services import Services


async def provider_infos(services: Services) -> list[ProviderInfo]:
    health = await services.store.health()
    models = await services.store.provider_models()
    settings = services.settings
    return [
        ProviderInfo(
            name=name,
            display_name=meta.display_name + (" (demo)" if services.demo else ""),
            website=meta.website,
            regions=list(meta.regions),
            gpu_models=models.get(name, []),
            features=meta.capabilities.features(),
            is_configured=services.demo or settings.provider(name).configured,
            is_demo=services.demo,
            health=health.get(name),
        )
        for name, meta in PROVIDER_META.items()
    ]
