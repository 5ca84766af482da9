"""The providers gpucm knows, in display order."""

from __future__ import annotations

from gpucm.providers import lambdalabs, paperspace, runpod, vastai
from gpucm.providers.base import ProviderMeta

PROVIDER_META: dict[str, ProviderMeta] = {
    m.name: m for m in (vastai.META, runpod.META, lambdalabs.META, paperspace.META)
}
