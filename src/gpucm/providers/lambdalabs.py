"""Lambda Cloud (API_NOTES.md section 3): whole VMs, no stop/start."""

from __future__ import annotations

import logging
from typing import Any

from gpucm.domain.models import Instance, Offer
from gpucm.domain.provider_names import KEY_ENV, LAMBDA_LABS, URL_ENV, display_name
from gpucm.providers import lambdalabs_parse as parse
from gpucm.providers.adapter import HttpAdapter
from gpucm.providers.base import (
    Capabilities,
    FileSystem,
    LaunchSpec,
    MachineImage,
    ProviderMeta,
    Region,
)
from gpucm.providers.errors import CapacityError, InvalidRequest, ProviderError

log = logging.getLogger(__name__)

META = ProviderMeta(
    name=LAMBDA_LABS,
    display_name=display_name(LAMBDA_LABS),
    website="https://lambda.ai",
    default_base_url="https://cloud.lambda.ai/api/v1",
    key_env=KEY_ENV[LAMBDA_LABS],
    url_env=URL_ENV[LAMBDA_LABS],
    capabilities=Capabilities(
        stop_start=False,
        restart=True,
        ssh_key_per_launch=True,
        file_systems=True,
    ),
    regions=("US-East", "US-Central", "US-West", "Europe", "Asia", "Middle East", "Oceania"),
    availability="Lambda says only whether a region has capacity (medium), never how much",
)


class LambdaLabsAdapter(HttpAdapter):
    """Lambda Cloud's REST API. Lambda rents whole VMs: a launch names an instance type,
    a region and one SSH key; image, environment and ports are not Lambda concepts."""

    meta = META
    # ~1 request/s in general, launches 1 per 12 s (API_NOTES 3, "Errors and limits")
    request_interval = 1.0
    launch_interval = 12.0

    def map_error(self, status: int, body: Any, text: str) -> ProviderError | None:
        return parse.map_error(status, body, self._secrets())

    def _secrets(self) -> list[str]:
        key = self.settings.api_key
        return [key.get_secret_value()] if key else []

    # -- offers ---------------------------------------------------------------------------

    async def fetch_offers(self) -> list[Offer]:
        body = await self.http.request("GET", "/instance-types")
        return parse.parse_offers(body, self.clock())

    async def quote(self, offer: Offer) -> Offer | None:
        for fresh in await self.fetch_offers():
            if fresh.provider_id == offer.provider_id:
                return fresh if fresh.available else None
        return None

    # -- the account's regions, images and filesystems (for launch forms) ------------

    async def regions(self) -> list[Region]:
        return parse.parse_regions(await self.http.request("GET", "/regions"))

    async def images(self) -> list[MachineImage]:
        return parse.parse_images(await self.http.request("GET", "/images"))

    async def file_systems(self) -> list[FileSystem]:
        return parse.parse_file_systems(await self.http.request("GET", "/file-systems"))

    # -- instances ------------------------------------------------------------------------

    async def list_instances(self) -> list[Instance]:
        return parse.parse_instances(await self.http.request("GET", "/instances"))

    async def launch(self, spec: LaunchSpec) -> Instance:
        type_name, region = _launch_target(spec.offer)
        if not region:
            raise CapacityError(
                self.name,
                f"{type_name} has no capacity in any region right now; "
                "pick another offer or try again later",
            )
        if spec.interruptible:
            raise self.unsupported(
                "Lambda Cloud rents no interruptible (spot) instances; launch on demand"
            )
        body: dict[str, Any] = {
            "region_name": region,
            "instance_type_name": type_name,
            "ssh_key_names": [await self._ssh_key_name(spec)],
        }
        if spec.file_systems:
            body["file_system_names"] = await self._file_system_names(spec, region)
        name = " ".join(spec.label.split())[:MAX_NAME]
        if name:
            body["name"] = name
        if spec.onstart_script:
            body["user_data"] = _user_data(spec.onstart_script, self.name)
        answer = await self.http.request(
            "POST", "/instance-operations/launch", json_body=body, kind="launch"
        )
        pid = parse.parse_launch_ids(answer)[0]
        extra = {"offer_id": spec.offer.id, "request_id": spec.request_id}
        try:
            fetched = await self.http.request("GET", f"/instances/{pid}")
            instance = parse.parse_instance_body(fetched, "GET /instances/{id}")
        except ProviderError as exc:
            # The machine exists and bills: a failed follow-up read must not look like
            # a failed launch (the user might launch again).
            log.info("lambda: launched %s, but could not read it back: %s", pid, exc.message)
            return _provisioning(pid, name, spec, type_name, region).model_copy(update=extra)
        return instance.model_copy(update=extra)

    async def _file_system_names(self, spec: LaunchSpec, region: str) -> list[str]:
        """The filesystems to attach, checked against the account's before the launch
        (launches are the scarce quota: 1 per 12 s): each must exist and be in the
        instance's region."""
        have = {fs.name: fs for fs in await self.file_systems()}
        names = list(dict.fromkeys(n.strip() for n in spec.file_systems if n.strip()))
        for name in names:
            fs = have.get(name)
            if fs is None:
                known = ", ".join(sorted(have)[:5]) or "none"
                raise InvalidRequest(
                    self.name,
                    f"the account has no filesystem named {name!r} (it has: {known}); "
                    "create it at https://cloud.lambda.ai/file-systems",
                )
            if fs.region != region:
                raise InvalidRequest(
                    self.name,
                    f"filesystem {name!r} is in {fs.region}, and this offer is in {region}: "
                    "a filesystem attaches only in its own region; pick an offer in "
                    f"{fs.region} or leave the filesystem out",
                )
        return names

    async def _ssh_key_name(self, spec: LaunchSpec) -> str:
        chosen = (spec.ssh_key_name or self.settings.ssh_key_name or "").strip()
        if chosen:
            return chosen
        names = parse.parse_ssh_key_names(await self.http.request("GET", "/ssh-keys"))
        if len(names) == 1:
            return names[0]
        if not names:
            raise InvalidRequest(
                self.name,
                "the account has no SSH key, and Lambda needs one to launch; add one at "
                "https://cloud.lambda.ai/ssh-keys, then set ssh_key_name for lambda_labs",
            )
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        raise InvalidRequest(
            self.name,
            f"the account has {len(names)} SSH keys ({shown}) and Lambda takes exactly one; "
            "choose it with ssh_key_name in the lambda_labs settings or with the launch",
        )

    async def restart(self, provider_id: str) -> None:
        await self._operate("restart", "restarted_instances", provider_id)

    async def terminate(self, provider_id: str) -> None:
        await self._operate("terminate", "terminated_instances", provider_id)

    async def _operate(self, action: str, field: str, provider_id: str) -> None:
        path = f"/instance-operations/{action}"
        body = await self.http.request(
            "POST", path, json_body={"instance_ids": [provider_id]}, kind="write"
        )
        done = parse.check_operation(body, f"POST {path}", field)
        if provider_id not in done:
            log.debug("lambda: %s answer did not list %s", action, provider_id)

    async def stop(self, provider_id: str) -> None:
        raise self.unsupported(_NO_STOP)

    async def start(self, provider_id: str) -> None:
        raise self.unsupported(_NO_STOP)

    async def logs(self, provider_id: str) -> str:
        raise self.unsupported(
            "Lambda Cloud has no API for instance logs; connect over SSH to read them"
        )


_NO_STOP = (
    "Lambda Cloud cannot stop or start an instance; restart it, or terminate it to stop paying"
)
MAX_NAME = 64  # Lambda's limit on an instance name
MAX_USER_DATA = 1024 * 1024  # cloud-init user data, bytes


def _launch_target(offer: Offer) -> tuple[str, str]:
    """(instance type, region) from the offer; the provider id spells both as well."""
    data = offer.provider_data
    type_name = data.get("instance_type")
    region = data.get("region")
    if not isinstance(type_name, str) or not type_name:
        type_name, _, region = offer.provider_id.partition("@")
    return type_name, region if isinstance(region, str) else ""


def _user_data(script: str, provider: str) -> str:
    # cloud-init runs user data that starts with a shebang as a shell script.
    text = script if script.startswith(("#!", "#cloud-config")) else f"#!/bin/bash\n{script}"
    if len(text.encode()) > MAX_USER_DATA:
        raise InvalidRequest(
            provider, "the start script is over Lambda's 1 MB limit for user data; shorten it"
        )
    return text


def _provisioning(pid: str, name: str, spec: LaunchSpec, type_name: str, region: str) -> Instance:
    offer = spec.offer
    return Instance(
        id=f"{LAMBDA_LABS}:{pid}",
        provider=LAMBDA_LABS,
        provider_id=pid,
        name=name,
        status="provisioning",
        raw_status=None,
        gpu_name=offer.gpu_name,
        gpu_count=offer.gpu_count,
        cpu_count=offer.vcpus,
        ram_gb=offer.ram_gb,
        storage_gb=offer.storage_gb,
        price_per_hour=offer.price_per_hour,
        region=region,
        ssh_port=parse.SSH_PORT,
        ssh_user=parse.SSH_USER,
        provider_data={"instance_type": type_name, "region": region},
    )
