"""RunPod, over its GraphQL API (API_NOTES.md section 2). REST v1 retired 2026-11-15."""

from __future__ import annotations

from gpucm.domain.provider_names import RUNPOD
from gpucm.providers.base import Capabilities, ProviderMeta

META = ProviderMeta(
    name=RUNPOD,
    display_name="RunPod",
    website="https://runpod.io",
    default_base_url="https://api.runpod.io/graphql",
    key_env="RUNPOD_API_KEY",
    url_env="RUNPOD_API_URL",
    capabilities=Capabilities(
        stop_start=True,
        restart=False,
        spot=True,
        container_image=True,
        env_vars=True,
        port_mapping=True,
        logs=False,
        storage_billed_separately=True,
    ),
    regions=("US-East", "US-Central", "US-West", "Canada", "Europe", "Asia", "Oceania"),
)
