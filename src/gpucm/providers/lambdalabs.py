"""Lambda Cloud (API_NOTES.md section 3): whole VMs, no stop/start."""

from __future__ import annotations

from gpucm.domain.provider_names import LAMBDA_LABS
from gpucm.providers.base import Capabilities, ProviderMeta

META = ProviderMeta(
    name=LAMBDA_LABS,
    display_name="Lambda Cloud",
    website="https://lambda.ai",
    default_base_url="https://cloud.lambda.ai/api/v1",
    key_env="LAMBDA_API_KEY",
    url_env="LAMBDA_API_URL",
    capabilities=Capabilities(
        stop_start=False,
        restart=True,
        ssh_key_per_launch=True,
    ),
    regions=("US-East", "US-Central", "US-West", "Europe", "Asia", "Middle East", "Oceania"),
)
