"""What the four HTTP adapters share: construction of the HTTP layer, naming, closing."""

from __future__ import annotations

import abc
import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from gpucm.domain.clock import Clock, utcnow
from gpucm.domain.models import Instance, Offer, offer_id
from gpucm.providers.base import LaunchSpec, ProviderMeta
from gpucm.providers.errors import ProviderError, Unsupported
from gpucm.providers.http import Limits, Pacer, ProviderHttp, RetryPolicy, Sleep

if TYPE_CHECKING:
    import httpx

    # the type only: settings are passed in, built by the composition root
    from gpucm.config import ProviderSettings


class HttpAdapter(abc.ABC):
    """Base for the real adapters. Subclasses set `meta`, may override `auth_headers`,
    `map_error` (provider-specific error bodies) and the pacing intervals."""

    meta: ClassVar[ProviderMeta]
    is_demo: ClassVar[bool] = False
    request_interval: ClassVar[float] = 0.0  # seconds between any two requests
    launch_interval: ClassVar[float] = 0.0  # seconds between two launches

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        secrets: Callable[[], Sequence[str]] = list,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        clock: Clock = utcnow,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.monotonic = monotonic
        key = settings.api_key.get_secret_value().strip() if settings.api_key else ""

        def all_secrets() -> list[str]:
            return [key, *secrets()]

        self.http = ProviderHttp(
            self.meta.name,
            self.api_base(settings),
            headers=self.auth_headers(key),
            key_env=self.meta.key_env,
            secrets=all_secrets,
            transport=transport,
            retry=retry,
            limits=limits,
            pacer=Pacer(self.request_interval, monotonic=monotonic, sleep=sleep)
            if self.request_interval
            else None,
            launch_pacer=Pacer(self.launch_interval, monotonic=monotonic, sleep=sleep)
            if self.launch_interval
            else None,
            error_mapper=self.map_error,
            sleep=sleep,
            rand=rand,
            monotonic=monotonic,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.http.base_url!r})"

    @property
    def name(self) -> str:
        return self.meta.name

    @classmethod
    def api_base(cls, settings: ProviderSettings) -> str:
        """The base URL requests are relative to: the configured one, else the default."""
        return settings.base_url or cls.meta.default_base_url

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def map_error(self, status: int, body: Any, text: str) -> ProviderError | None:
        """Provider-specific mapping; None falls back to the shared status mapping.
        Called for every error status, and for 2xx bodies too (GraphQL errors)."""
        return None

    def offer_id(self, provider_id: str) -> str:
        return offer_id(self.meta.name, provider_id)

    def instance_id(self, provider_id: str) -> str:
        return f"{self.meta.name}:{provider_id}"

    def unsupported(self, sentence: str) -> Unsupported:
        return Unsupported(self.meta.name, sentence)

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- what each adapter implements (OfferSource and InstanceControl) -------------

    @abc.abstractmethod
    async def fetch_offers(self) -> list[Offer]: ...

    @abc.abstractmethod
    async def list_instances(self) -> list[Instance]: ...

    @abc.abstractmethod
    async def launch(self, spec: LaunchSpec) -> Instance: ...

    @abc.abstractmethod
    async def stop(self, provider_id: str) -> None: ...

    @abc.abstractmethod
    async def start(self, provider_id: str) -> None: ...

    @abc.abstractmethod
    async def restart(self, provider_id: str) -> None: ...

    @abc.abstractmethod
    async def terminate(self, provider_id: str) -> None: ...

    @abc.abstractmethod
    async def quote(self, offer: Offer) -> Offer | None: ...

    @abc.abstractmethod
    async def logs(self, provider_id: str) -> str: ...
