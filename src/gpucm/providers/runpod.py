"""RunPod, over its GraphQL API (API_NOTES.md section 2). REST v1 retired 2026-11-15."""

from __future__ import annotations

import math
from typing import Any

from gpucm.domain.models import Instance, Offer
from gpucm.domain.provider_names import KEY_ENV, RUNPOD, URL_ENV
from gpucm.providers.adapter import HttpAdapter
from gpucm.providers.base import Capabilities, LaunchSpec, ProviderMeta
from gpucm.providers.errors import InvalidRequest, ProviderError, redact
from gpucm.providers.http import RequestKind
from gpucm.providers.runpod_parse import (
    CLOUD_TYPES,
    graphql_error,
    mutation_result,
    parse_deployed,
    parse_offers,
    parse_pods,
    requote,
)

META = ProviderMeta(
    name=RUNPOD,
    display_name="RunPod",
    website="https://runpod.io",
    default_base_url="https://api.runpod.io/graphql",
    key_env=KEY_ENV[RUNPOD],
    url_env=URL_ENV[RUNPOD],
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

# RunPod's own PyTorch template image: SSH and Jupyter start without extra setup.
DEFAULT_IMAGE = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04"
# With no volume disk the container disk holds everything, image layers included.
DEFAULT_CONTAINER_DISK_GB = 40
SSH_PORT = "22/tcp"

# Every query is constant text; values travel only in `variables`, so a label or image
# holding quotes or braces can neither break nor extend the query.
GPU_TYPES_QUERY = """\
query GpuTypes($lowestPriceInput: GpuLowestPriceInput, $gpuTypesInput: GpuTypeFilter) {
  gpuTypes(input: $gpuTypesInput) {
    id
    displayName
    manufacturer
    memoryInGb
    cudaCores
    secureCloud
    communityCloud
    securePrice
    communityPrice
    secureSpotPrice
    communitySpotPrice
    oneWeekPrice
    oneMonthPrice
    threeMonthPrice
    sixMonthPrice
    maxGpuCount
    maxGpuCountSecureCloud
    maxGpuCountCommunityCloud
    lowestPrice(input: $lowestPriceInput) {
      gpuTypeId
      minimumBidPrice
      uninterruptablePrice
      minVcpu
      minMemory
      stockStatus
      compliance
      countryCode
      maxUnreservedGpuCount
      availableGpuCounts
    }
  }
}"""

# `env` is left out on purpose: it holds the user's secrets (passwords, tokens).
PODS_QUERY = """\
query Pods {
  myself {
    pods {
      id
      name
      desiredStatus
      costPerHr
      gpuCount
      imageName
      machineId
      memoryInGb
      vcpuCount
      containerDiskInGb
      volumeInGb
      ports
      podType
      lastStatusChange
      uptimeSeconds
      runtime {
        uptimeInSeconds
        ports {
          ip
          isIpPublic
          privatePort
          publicPort
          type
        }
      }
      machine {
        gpuDisplayName
      }
    }
  }
}"""

DEPLOY_MUTATION = """\
mutation DeployPod($input: PodFindAndDeployOnDemandInput!) {
  podFindAndDeployOnDemand(input: $input) {
    id
    name
    desiredStatus
    imageName
    costPerHr
    gpuCount
    machineId
    machine {
      podHostId
      gpuDisplayName
    }
  }
}"""

STOP_MUTATION = """\
mutation StopPod($input: PodStopInput!) {
  podStop(input: $input) {
    id
    desiredStatus
  }
}"""

RESUME_MUTATION = """\
mutation ResumePod($input: PodResumeInput!) {
  podResume(input: $input) {
    id
    desiredStatus
  }
}"""

# podTerminate returns a scalar (null), so it takes no selection set.
TERMINATE_MUTATION = """\
mutation TerminatePod($input: PodTerminateInput!) {
  podTerminate(input: $input)
}"""


def lowest_price_input(gpu_count: int, secure_cloud: bool | None = None) -> dict[str, Any]:
    return {
        "gpuCount": gpu_count,
        "secureCloud": secure_cloud,
        "minDisk": None,
        "minMemoryInGb": None,
        "minVcpuCount": None,
    }


def ports_field(ports: tuple[tuple[int, str], ...]) -> str:
    """RunPod's "8888/http,22/tcp" port list, SSH always included."""
    entries: list[str] = []
    for port, protocol in ports:
        proto = protocol.lower()
        if proto not in ("tcp", "http"):
            raise InvalidRequest(
                RUNPOD,
                f"RunPod pods expose only HTTP and TCP ports, not {port}/{protocol}; "
                "use tcp or http",
            )
        entry = f"{port}/{proto}"
        if entry not in entries:
            entries.append(entry)
    if SSH_PORT not in entries:
        entries.append(SSH_PORT)
    return ",".join(entries)


def deploy_input(spec: LaunchSpec) -> dict[str, Any]:
    """The podFindAndDeployOnDemand input for a launch spec (values only, never query text)."""
    data = spec.offer.provider_data
    cloud = data.get("cloud_type")
    type_id = data.get("gpu_type_id")
    count = data.get("gpu_count", spec.offer.gpu_count)
    if (
        cloud not in CLOUD_TYPES
        or not isinstance(type_id, str)
        or not type_id
        or not isinstance(count, int)
        or isinstance(count, bool)
        or count < 1
    ):
        raise InvalidRequest(
            RUNPOD,
            f"offer {spec.offer.id} lacks RunPod's GPU type, cloud or count; "
            "refresh the offers and pick it again",
        )
    if spec.onstart_script:
        raise InvalidRequest(
            RUNPOD,
            "RunPod launches cannot run an on-start script through this API; bake it "
            "into the image or run it over SSH after the pod starts",
        )
    disk = DEFAULT_CONTAINER_DISK_GB if spec.disk_gb is None else math.ceil(spec.disk_gb)
    return {
        "cloudType": cloud,
        "gpuTypeId": type_id,
        "gpuCount": count,
        "name": spec.label,
        "imageName": spec.image or DEFAULT_IMAGE,
        "containerDiskInGb": disk,
        "volumeInGb": 0,
        "ports": ports_field(spec.ports),
        "env": [{"key": key, "value": value} for key, value in spec.environment],
        "startSsh": True,
        "supportPublicIp": True,
    }


class RunPodAdapter(HttpAdapter):
    meta = META

    def map_error(self, status: int, body: Any, text: str) -> ProviderError | None:
        # 401/403 may come without a JSON body; the shared mapping handles those and 429.
        if status in (401, 403, 429):
            return None
        key = self.settings.api_key.get_secret_value().strip() if self.settings.api_key else ""
        error = graphql_error(
            body, status, f"; check {self.meta.key_env}", clean=lambda s: redact(s, [key])
        )
        if error is None or (status >= 500 and error.kind == "invalid_request"):
            return None
        return error

    async def _graphql(
        self, query: str, variables: dict[str, Any], kind: RequestKind = "read"
    ) -> Any:
        # The base URL itself, not "" relative to it: httpx would append a slash
        # ("/graphql/"), and redirects are not followed.
        return await self.http.request(
            "POST",
            self.http.base_url,
            json_body={"query": query, "variables": variables},
            kind=kind,
        )

    async def fetch_offers(self) -> list[Offer]:
        body = await self._graphql(
            GPU_TYPES_QUERY,
            {"gpuTypesInput": None, "lowestPriceInput": lowest_price_input(1)},
        )
        return parse_offers(body, self.clock())

    async def quote(self, offer: Offer) -> Offer | None:
        type_id = offer.provider_data.get("gpu_type_id")
        cloud = offer.provider_data.get("cloud_type")
        if not isinstance(type_id, str) or cloud not in CLOUD_TYPES:
            raise InvalidRequest(
                RUNPOD,
                f"offer {offer.id} lacks RunPod's GPU type or cloud; refresh the offers",
            )
        # Asking for this cloud and count makes the stock answer about this offer only.
        body = await self._graphql(
            GPU_TYPES_QUERY,
            {
                "gpuTypesInput": {"id": type_id},
                "lowestPriceInput": lowest_price_input(offer.gpu_count, cloud == "SECURE"),
            },
        )
        return requote(body, offer, self.clock())

    async def list_instances(self) -> list[Instance]:
        return parse_pods(await self._graphql(PODS_QUERY, {}), self.clock())

    async def launch(self, spec: LaunchSpec) -> Instance:
        variables = {"input": deploy_input(spec)}
        body = await self._graphql(DEPLOY_MUTATION, variables, kind="launch")
        return parse_deployed(
            body,
            spec.offer,
            name=spec.label,
            image=variables["input"]["imageName"],
            now=self.clock(),
            request_id=spec.request_id,
        )

    async def stop(self, provider_id: str) -> None:
        body = await self._graphql(STOP_MUTATION, {"input": {"podId": provider_id}}, kind="write")
        mutation_result(body, "podStop")

    async def start(self, provider_id: str) -> None:
        # podResume needs the pod's GPU count; only the pod list knows it.
        gpu_count = 1
        for pod in await self.list_instances():
            if pod.provider_id == provider_id and pod.gpu_count > 0:
                gpu_count = pod.gpu_count
                break
        body = await self._graphql(
            RESUME_MUTATION,
            {"input": {"podId": provider_id, "gpuCount": gpu_count}},
            kind="write",
        )
        mutation_result(body, "podResume")

    async def restart(self, provider_id: str) -> None:
        raise self.unsupported(
            "RunPod's GraphQL API has no restart we can rely on; stop the pod, then start it"
        )

    async def terminate(self, provider_id: str) -> None:
        body = await self._graphql(
            TERMINATE_MUTATION, {"input": {"podId": provider_id}}, kind="write"
        )
        mutation_result(body, "podTerminate")

    async def logs(self, provider_id: str) -> str:
        raise self.unsupported(
            "RunPod's API has no logs endpoint; read the pod's logs in the RunPod console"
        )
