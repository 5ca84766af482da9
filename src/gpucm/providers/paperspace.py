"""Paperspace (DigitalOcean) machines (API_NOTES.md section 4): VMs, no price endpoint."""

from __future__ import annotations

from gpucm.domain.provider_names import PAPERSPACE
from gpucm.providers.base import Capabilities, ProviderMeta

META = ProviderMeta(
    name=PAPERSPACE,
    display_name="Paperspace",
    website="https://www.paperspace.com",
    default_base_url="https://api.paperspace.com/v1",
    key_env="PAPERSPACE_API_KEY",
    url_env="PAPERSPACE_API_URL",
    capabilities=Capabilities(
        stop_start=True,
        restart=True,
        auto_terminate=True,
        storage_billed_separately=True,
    ),
    regions=("US-East", "US-West", "Europe"),
)
