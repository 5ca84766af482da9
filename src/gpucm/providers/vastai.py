"""Vast.ai: the marketplace of individual hosts (API_NOTES.md section 1)."""

from __future__ import annotations

from gpucm.domain.provider_names import VAST_AI
from gpucm.providers.base import Capabilities, ProviderMeta

META = ProviderMeta(
    name=VAST_AI,
    display_name="Vast.ai",
    website="https://vast.ai",
    default_base_url="https://console.vast.ai",
    key_env="VAST_AI_API_KEY",
    url_env="VAST_AI_API_URL",
    capabilities=Capabilities(
        stop_start=True,
        restart=True,
        spot=True,
        container_image=True,
        env_vars=True,
        port_mapping=True,
        logs=True,
        storage_billed_separately=True,
    ),
    regions=("US-East", "US-Central", "US-West", "Canada", "Europe", "Asia", "Oceania"),
)
