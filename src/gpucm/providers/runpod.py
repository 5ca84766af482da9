"""RunPod, over its REST API v2 (API_NOTES.md section 2; runpod/docs
`api-reference-v2/openapi.json`).

Offers come from the GPU catalogue, asked per cloud (SECURE, COMMUNITY) and per GPU
count, so each offer carries its own cloud's price and its own data centre's stock.
Pods are listed, created, started, stopped, restarted and terminated over v2; logs are
its Server-Sent Events stream, read until it goes quiet.

GraphQL (deprecated, retired early 2027) is used only for what v2 lacks: the spot
prices of the offers and interruptible pods (`podRentInterruptable` with `bidPerGpu`).
Once GraphQL answers 404 or 410, the adapter stops asking: offers carry no spot price
and an interruptible launch says "RunPod has retired the API for spot launches";
everything else keeps working. No GraphQL request is made for offers themselves or for
on-demand pods.

`RUNPOD_API_URL` is the API's base (default https://api.runpod.io): REST under `/v2`,
GraphQL under `/graphql`. An old value ending in `/graphql` still works.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote as quote_path

from gpucm.domain.cuda import image_cuda, version_key
from gpucm.domain.models import Instance, Offer
from gpucm.domain.provider_names import KEY_ENV, RUNPOD, URL_ENV, display_name
from gpucm.providers.adapter import HttpAdapter
from gpucm.providers.base import Capabilities, LaunchSpec, ProviderMeta
from gpucm.providers.concurrent import gather_or_cancel
from gpucm.providers.errors import InvalidRequest, ProviderError, Unsupported, redact
from gpucm.providers.http import RequestKind
from gpucm.providers.runpod_parse import (
    CLOUD_TYPES,
    INTERRUPTIBLE_ENV,
    SpotPrice,
    catalog_rows,
    counts_to_ask,
    graphql_error,
    offer_target,
    parse_catalog,
    parse_created,
    parse_logs,
    parse_pods,
    parse_rented,
    parse_spot_prices,
    problem_error,
    requote,
)

if TYPE_CHECKING:
    # config imports the provider registry; a runtime import here would be circular
    from gpucm.config import ProviderSettings

log = logging.getLogger(__name__)

META = ProviderMeta(
    name=RUNPOD,
    display_name=display_name(RUNPOD),
    website="https://runpod.io",
    default_base_url="https://api.runpod.io",
    key_env=KEY_ENV[RUNPOD],
    url_env=URL_ENV[RUNPOD],
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
    availability="the data centre's own stock level for this cloud and GPU count",
)

# RunPod's own PyTorch template image: SSH and Jupyter start without extra setup.
DEFAULT_IMAGE = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
# With no volume disk the container disk holds everything, image layers included.
DEFAULT_CONTAINER_DISK_GB = 40
SSH_PORT = "22/tcp"
GRAPHQL_RETIRED = (
    "RunPod has retired the API for spot launches (GraphQL); launch this offer on demand instead"
)

CATALOG_PATH = "/v2/catalog/gpus"
# A refresh asks the catalogue up to 8 times (2 clouds x 4 counts), most of them at
# once: at most this many in flight, so as not to burst the API.
CATALOG_REQUESTS_AT_ONCE = 4
PODS_PATH = "/v2/pods"
GRAPHQL_PATH = "/graphql"

# Constant text; values travel only in `variables`, so a label or image holding quotes
# or braces can neither break nor extend the query.
SPOT_PRICES_QUERY = """\
query SpotPrices {
  gpuTypes {
    id
    secureSpotPrice
    communitySpotPrice
  }
}"""

# `env` is not selected: it holds the user's secrets.
RENT_INTERRUPTABLE_MUTATION = """\
mutation RentInterruptable($input: PodRentInterruptableInput!) {
  podRentInterruptable(input: $input) {
    id
    desiredStatus
    imageName
    machineId
  }
}"""


def ports_list(ports: tuple[tuple[int, str], ...]) -> list[str]:
    """RunPod's ["8888/http", "22/tcp"] port list, SSH always included (the pod's
    `ssh.direct` needs 22/tcp published)."""
    entries: list[str] = []
    for port, protocol in ports:
        proto = protocol.lower()
        if proto not in ("tcp", "http"):
            raise InvalidRequest(
                RUNPOD,
                f"RunPod pods expose only HTTP and TCP ports, not {port}/{protocol}; "
                "use tcp or http",
            )
        if not 1 <= port <= 65535:
            raise InvalidRequest(RUNPOD, f"port {port} is not between 1 and 65535")
        entry = f"{port}/{proto}"
        if entry not in entries:
            entries.append(entry)
    if SSH_PORT not in entries:
        entries.append(SSH_PORT)
    return entries


def cuda_need(spec: LaunchSpec, image: str) -> str | None:
    """The CUDA version the image needs, checked against the versions the offer's
    machines run: InvalidRequest when none is new enough (the pod would never place)."""
    needed = image_cuda(image)
    offered = spec.offer.provider_data.get("cuda_versions")
    if needed is None or not isinstance(offered, list) or not offered:
        return needed
    if not any(version_key(str(v)) >= version_key(needed) for v in offered):
        newest = max((str(v) for v in offered), key=version_key)
        raise InvalidRequest(
            RUNPOD,
            f"the image needs CUDA {needed}, and this GPU type's machines run CUDA {newest} "
            "at most; pick an older image or another offer",
        )
    return needed


def _disk(spec: LaunchSpec) -> int:
    disk = DEFAULT_CONTAINER_DISK_GB if spec.disk_gb is None else math.ceil(spec.disk_gb)
    if disk < 1:
        raise InvalidRequest(RUNPOD, "the disk size must be at least 1 GB")
    return disk


def _refuse_unsupported(spec: LaunchSpec) -> None:
    if spec.onstart_script:
        raise InvalidRequest(
            RUNPOD,
            "RunPod launches cannot run an on-start script through this API; bake it "
            "into the image or run it over SSH after the pod starts",
        )
    if spec.file_systems:
        raise Unsupported(RUNPOD, "gpucm cannot attach RunPod network volumes at launch")


def create_body(spec: LaunchSpec) -> dict[str, Any]:
    """The `POST /v2/pods` body for an on-demand launch (values only)."""
    gpu_type, cloud, count, dc = offer_target(spec.offer)
    _refuse_unsupported(spec)
    image = spec.image or DEFAULT_IMAGE
    gpu: dict[str, Any] = {"id": gpu_type, "count": count}
    needed = cuda_need(spec, image)
    if needed:
        # a floor, not an exact set: a newer driver runs an older CUDA image
        gpu["minCudaVersion"] = needed
    body: dict[str, Any] = {
        "name": spec.label,
        "image": image,
        "cloud": cloud,
        "gpu": gpu,
        "disk": _disk(spec),
        "ports": ports_list(spec.ports),
        "startSsh": True,
    }
    if spec.environment:
        body["env"] = dict(spec.environment)
    if dc:
        body["dataCenterIds"] = [dc]
    return body


def rent_input(spec: LaunchSpec, bid: float) -> dict[str, Any]:
    """The GraphQL `podRentInterruptable` input for an interruptible launch."""
    gpu_type, cloud, count, dc = offer_target(spec.offer)
    _refuse_unsupported(spec)
    image = spec.image or DEFAULT_IMAGE
    needed = cuda_need(spec, image)
    env = [{"key": k, "value": v} for k, v in spec.environment if k != INTERRUPTIBLE_ENV]
    env.append({"key": INTERRUPTIBLE_ENV, "value": "1"})
    data: dict[str, Any] = {
        "bidPerGpu": bid,
        "cloudType": cloud,
        "gpuTypeId": gpu_type,
        "gpuCount": count,
        "name": spec.label,
        "imageName": image,
        "containerDiskInGb": _disk(spec),
        "volumeInGb": 0,
        "ports": ",".join(ports_list(spec.ports)),
        "env": env,
        "startSsh": True,
        "supportPublicIp": True,
    }
    if dc:
        data["dataCenterId"] = dc
    offered = spec.offer.provider_data.get("cuda_versions")
    if needed and isinstance(offered, list):
        data["allowedCudaVersions"] = [
            str(v) for v in offered if version_key(str(v)) >= version_key(needed)
        ]
    return data


class RunPodAdapter(HttpAdapter):
    meta = META
    # spot prices are list prices: asked again at most this often (seconds)
    SPOT_PRICES_TTL: ClassVar[float] = 1800.0

    def __init__(self, settings: ProviderSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.graphql_retired = False
        self._spot: dict[tuple[str, str], SpotPrice] = {}
        self._spot_at: float | None = None
        self._catalog_slots = asyncio.Semaphore(CATALOG_REQUESTS_AT_ONCE)

    @classmethod
    def api_base(cls, settings: ProviderSettings) -> str:
        base = (settings.base_url or cls.meta.default_base_url).strip().rstrip("/")
        for suffix in (GRAPHQL_PATH, "/v2"):  # an old GraphQL URL, or one with /v2
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        return base.rstrip("/") or cls.meta.default_base_url

    @property
    def spot_available(self) -> bool:
        """Whether interruptible pods can still be launched (GraphQL not retired)."""
        return not self.graphql_retired

    @property
    def spot_refusal(self) -> str | None:
        """Why no interruptible pod can be launched now (None: it can): read by the
        launch preflight, so a spot request says so before anything is reserved."""
        return GRAPHQL_RETIRED if self.graphql_retired else None

    def _key(self) -> str:
        return self.settings.api_key.get_secret_value().strip() if self.settings.api_key else ""

    def map_error(self, status: int, body: Any, text: str) -> ProviderError | None:
        clean = lambda s: redact(s, [self._key()])  # noqa: E731
        if 200 <= status < 300:
            # a GraphQL answer reports its failures as `errors` inside a 200
            return graphql_error(body, status, f"; check {self.meta.key_env}", clean=clean)
        return problem_error(status, body, key_env=self.meta.key_env, clean=clean)

    # -- offers ------------------------------------------------------------------------

    async def _catalog(self, cloud: str, count: int) -> Any:
        async with self._catalog_slots:
            return await self.http.request(
                "GET",
                CATALOG_PATH,
                params={
                    "include": "AVAILABILITY",
                    "product": "POD",
                    "cloud": cloud,
                    "count": count,
                },
            )

    async def fetch_offers(self) -> list[Offer]:
        # Stock is per cloud and per count: one answer for each, never one copied to both.
        spot, answers = await gather_or_cancel(self.spot_prices(), self._catalog_answers())
        return parse_catalog(answers, self.clock(), spot)

    async def _catalog_answers(self) -> list[tuple[str, int, Any]]:
        """Every (cloud, count, answer) a refresh needs, in 3 round trips, not 8: one
        answer first, so an API that is down or has changed costs one request and its
        retries, not eight; then the rest at once, as far as each cloud's first answer
        says which counts are worth asking."""
        lead, *others = CLOUD_TYPES
        first = await self._first_answer(lead)
        rest = await gather_or_cancel(
            self._more_answers(lead, first), *(self._cloud_answers(c) for c in others)
        )
        return [(lead, 1, first), *(answer for answers in rest for answer in answers)]

    async def _first_answer(self, cloud: str) -> Any:
        body = await self._catalog(cloud, 1)
        # an answer with not one readable type: stop here, not after more requests
        parse_catalog([(cloud, 1, body)], self.clock())
        return body

    async def _more_answers(self, cloud: str, first: Any) -> list[tuple[str, int, Any]]:
        counts = counts_to_ask(catalog_rows(first), cloud)
        bodies = await gather_or_cancel(*(self._catalog(cloud, count) for count in counts))
        return [(cloud, count, body) for count, body in zip(counts, bodies, strict=True)]

    async def _cloud_answers(self, cloud: str) -> list[tuple[str, int, Any]]:
        first = await self._first_answer(cloud)
        return [(cloud, 1, first), *await self._more_answers(cloud, first)]

    async def spot_prices(self) -> dict[tuple[str, str], SpotPrice]:
        """Interruptible prices per (GPU type, cloud), from GraphQL while it lives.

        Never fails the refresh: spot prices are beside the offers, not the offers. A
        404 or 410 means GraphQL is gone; gpucm stops asking for the rest of the run."""
        if self.graphql_retired:
            return {}
        now = self.monotonic()
        if self._spot_at is not None and now - self._spot_at < self.SPOT_PRICES_TTL:
            return self._spot
        try:
            body = await self._graphql(SPOT_PRICES_QUERY, {})
            self._spot = parse_spot_prices(body)
        except Unsupported:  # retired just now
            return {}
        except ProviderError as exc:
            log.info("runpod: no spot prices this refresh: %s", exc.message)
            return self._spot  # the last ones, if any: list prices move rarely
        self._spot_at = now
        return self._spot

    async def quote(self, offer: Offer) -> Offer | None:
        gpu_type, cloud, count, _ = offer_target(offer)
        body = await self.http.request(
            "GET",
            f"{CATALOG_PATH}/{quote_path(gpu_type, safe='')}",
            params={"include": "AVAILABILITY", "product": "POD", "cloud": cloud, "count": count},
        )
        # a launch's process may not have refreshed: its spot price comes from here too
        return requote(body, offer, self.clock(), await self.spot_prices())

    # -- pods --------------------------------------------------------------------------

    async def list_instances(self) -> list[Instance]:
        return parse_pods(await self.http.request("GET", PODS_PATH), self.clock())

    async def launch(self, spec: LaunchSpec) -> Instance:
        if spec.interruptible:
            return await self._launch_interruptible(spec)
        body = create_body(spec)
        answer = await self.http.request("POST", PODS_PATH, json_body=body, kind="launch")
        return parse_created(
            answer, spec.offer, name=spec.label, now=self.clock(), request_id=spec.request_id
        )

    async def _launch_interruptible(self, spec: LaunchSpec) -> Instance:
        if self.graphql_retired:
            raise self.unsupported(GRAPHQL_RETIRED)
        bid = spec.bid(RUNPOD)
        data = rent_input(spec, bid)
        body = await self._graphql(RENT_INTERRUPTABLE_MUTATION, {"input": data}, kind="launch")
        return parse_rented(
            body,
            spec.offer,
            name=spec.label,
            image=data["imageName"],
            bid=bid,
            now=self.clock(),
            request_id=spec.request_id,
        )

    async def _graphql(
        self, query: str, variables: dict[str, Any], kind: RequestKind = "read"
    ) -> Any:
        """A GraphQL request; Unsupported (and no more of them) once it is retired."""
        try:
            return await self.http.request(
                "POST",
                GRAPHQL_PATH,
                json_body={"query": query, "variables": variables},
                kind=kind,
            )
        except ProviderError as exc:
            if exc.status in (404, 410):
                self.graphql_retired = True
                self._spot = {}
                log.info("runpod: GraphQL answered HTTP %s: retired", exc.status)
                raise self.unsupported(GRAPHQL_RETIRED) from None
            raise

    async def _action(self, provider_id: str, action: str) -> None:
        pod = quote_path(provider_id.strip(), safe="")
        if not pod:
            raise InvalidRequest(RUNPOD, "no pod id given")
        await self.http.request(
            "POST",
            f"{PODS_PATH}/{pod}/action",
            json_body={"action": action},
            kind="write",
            allow_empty=True,  # terminate answers 204 without a body
        )

    async def stop(self, provider_id: str) -> None:
        await self._action(provider_id, "stop")

    async def start(self, provider_id: str) -> None:
        await self._action(provider_id, "start")

    async def restart(self, provider_id: str) -> None:
        await self._action(provider_id, "restart")

    async def terminate(self, provider_id: str) -> None:
        await self._action(provider_id, "terminate")

    async def logs(self, provider_id: str) -> str:
        pod = quote_path(provider_id.strip(), safe="")
        stream = await self.http.stream_text(f"{PODS_PATH}/{pod}/logs", params={"tail": 500})
        return parse_logs(stream)
