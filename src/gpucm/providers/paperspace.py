"""Paperspace (DigitalOcean) machines (API_NOTES.md section 4): VMs, no price endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import quote as _quote_path

from gpucm.domain.models import Instance, Offer
from gpucm.domain.provider_names import KEY_ENV, PAPERSPACE, URL_ENV, display_name
from gpucm.providers.adapter import HttpAdapter
from gpucm.providers.base import Capabilities, LaunchSpec, ProviderMeta
from gpucm.providers.errors import (
    BadResponse,
    InvalidRequest,
    NotFound,
    ProviderError,
)
from gpucm.providers.paperspace_parse import (
    DISK_SIZES_GB,
    MachineCatalogue,
    build_offers,
    create_body,
    disk_size_gb,
    error_from_body,
    event_error,
    load_catalogue,
    machine_available,
    make_offer,
    parse_created,
    parse_machine,
    parse_page,
    pick_template,
    ssh_key_script,
    startup_script_id,
    template_support,
)
from gpucm.providers.ssh_keys import default_public_key

META = ProviderMeta(
    name=PAPERSPACE,
    display_name=display_name(PAPERSPACE),
    website="https://www.paperspace.com",
    default_base_url="https://api.paperspace.com/v1",
    key_env=KEY_ENV[PAPERSPACE],
    url_env=URL_ENV[PAPERSPACE],
    capabilities=Capabilities(
        stop_start=True,
        restart=True,
        auto_shutdown=True,
        storage_billed_separately=True,
        ssh_public_key=True,
    ),
    # the regions the packaged catalogue confirms (paperspace_machine_types.json)
    regions=("US-East",),
    availability=(
        "no API reports capacity; a launch may fail for capacity, and gpucm then offers "
        "an equivalent"
    ),
)

log = logging.getLogger(__name__)


class PaperspaceAdapter(HttpAdapter):
    """Offers = the packaged machine-type catalogue x its regions, of unknown
    availability (no Paperspace listing says how much stock there is); machines through
    `/machines`. A launch's re-quote asks `GET /machine-availability` for its one type
    and region; the create installs the user's SSH key with a startup script.

    `LaunchSpec.auto_terminate_hours` is Paperspace's auto-shutdown: the machine is
    stopped after that many hours, not deleted, and its disk keeps billing."""

    meta = META
    page_limit: ClassVar[int] = 50
    max_pages: ClassVar[int] = 200  # 10 000 machines: far past any real team
    # where a launch without a key of its own finds the user's (a test replaces it)
    read_default_key: Callable[[], str | None] = staticmethod(default_public_key)

    @property
    def catalogue(self) -> MachineCatalogue:
        return load_catalogue()

    def map_error(self, status: int, body: Any, text: str) -> ProviderError | None:
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else None
        return error_from_body(status, body, key_env=self.meta.key_env, secrets=[key])

    # -- reads ----------------------------------------------------------------------------

    async def _list_all(self, path: str) -> list[Any]:
        return await self._list_all_params(path, {})

    async def _list_all_params(self, path: str, filters: dict[str, Any]) -> list[Any]:
        """Every item of a cursor-paginated list (`limit`, `after=<nextPage>`)."""
        items: list[Any] = []
        seen: set[str] = set()
        params: dict[str, Any] = {"limit": self.page_limit, **filters}
        for _ in range(self.max_pages):
            body = await self.http.request("GET", path, params=params)
            page, cursor = parse_page(body, f"GET {path}")
            items.extend(page)
            if cursor is None:
                return items
            if cursor in seen:
                raise BadResponse(self.name, f"answered GET {path} with the same page cursor twice")
            seen.add(cursor)
            params = {"limit": self.page_limit, **filters, "after": cursor}
        raise BadResponse(self.name, f"GET {path} still had more pages after {self.max_pages}")

    async def _templates(self) -> list[Any]:
        return await self._list_all("/os-templates")

    async def fetch_offers(self) -> list[Offer]:
        # The offers come from the catalogue; the templates answer says the key works
        # and the API answers as gpucm reads it (a failing API fails the refresh).
        template_support(await self._templates())
        return build_offers(self.catalogue, self.clock())

    async def machine_available(self, machine_type: str, region: str) -> bool | None:
        """Whether Paperspace can create `machine_type` in `region` now, from
        `GET /machine-availability` (DigitalOcean's Paperspace API reference); None when
        the API does not answer it (an account or API version without the endpoint)."""
        try:
            body = await self.http.request(
                "GET",
                "/machine-availability",
                params={"machineType": machine_type, "region": region},
            )
        except (NotFound, BadResponse) as exc:
            log.debug("paperspace: no machine availability for %s: %s", machine_type, exc)
            return None
        return machine_available(body)

    async def quote(self, offer: Offer) -> Offer | None:
        label, region = self._offer_target(offer)
        machine_type = self.catalogue.get(label)
        if machine_type is None or region not in machine_type.regions:
            return None
        available = await self.machine_available(label, region)
        if available is False:
            return None  # no machines of this type in this region now
        return make_offer(
            machine_type,
            region,
            self.clock(),
            self.catalogue.storage_price_per_gb_month,
            # a yes says stock exists, not how much (as Lambda's regions do)
            availability="medium" if available else "unknown",
        )

    async def list_instances(self) -> list[Instance]:
        catalogue = self.catalogue
        machines = await self._list_all("/machines")
        return [i for i in (parse_machine(m, catalogue) for m in machines) if i is not None]

    async def logs(self, provider_id: str) -> str:
        raise self.unsupported(
            "the Paperspace API has no machine logs; SSH in (user paperspace) or open the "
            "machine in the Paperspace console"
        )

    # -- launch ---------------------------------------------------------------------------

    def _offer_target(self, offer: Offer) -> tuple[str, str]:
        data = offer.provider_data
        label = data.get("machine_type")
        region = data.get("region")
        if not isinstance(label, str) or not label or not isinstance(region, str) or not region:
            raise InvalidRequest(
                self.name,
                f"offer {offer.id} lacks the machine type or region a launch needs; "
                "refresh the offers and pick it again",
            )
        return label, region

    async def _ssh_key_script(self, spec: LaunchSpec) -> str | None:
        """The id of the startup script that installs the user's SSH key, made once per
        key and reused; None when there is no key to install (then only the keys saved
        in the Paperspace account open the machine)."""
        key = spec.ssh_public_key or self.read_default_key()
        if not key:
            log.info("paperspace: no SSH public key to install; ~/.ssh has no id_*.pub")
            return None
        name, script = ssh_key_script(key)
        existing = startup_script_id(
            await self._list_all_params("/startup-scripts", {"name": name}), name
        )
        if existing:
            return existing
        made = await self.http.request(
            "POST",
            "/startup-scripts",
            json_body={"name": name, "script": script, "isRunOnce": True},
            kind="write",
        )
        made_id = startup_script_id([made], name)
        if made_id is None:
            raise BadResponse(self.name, "answered POST /startup-scripts without the script's id")
        return made_id

    async def launch(self, spec: LaunchSpec) -> Instance:
        label, region = self._offer_target(spec.offer)
        if spec.interruptible:
            raise self.unsupported(
                "Paperspace rents no interruptible (spot) machines; launch on demand"
            )
        if spec.file_systems:
            raise self.unsupported("gpucm cannot attach Paperspace shared drives at launch")
        templates = await self._templates()
        template = pick_template(templates, label)
        template_id = template.get("id") if template else None
        if not isinstance(template_id, str):
            raise InvalidRequest(
                self.name,
                f"none of the team's OS templates runs on machine type {label}; pick "
                "another offer, or ask Paperspace to enable the machine type",
            )
        raw_default = template.get("defaultSizeGb") if template else None
        default = float(raw_default) if isinstance(raw_default, int | float) else None
        disk = disk_size_gb(spec.disk_gb, default)
        if disk is None:
            wanted = max(spec.disk_gb or 0.0, default or 0.0)
            raise InvalidRequest(
                self.name,
                f"a {wanted:.0f} GB disk is larger than Paperspace offers "
                f"(at most {DISK_SIZES_GB[-1]} GB); ask for a smaller disk",
            )
        body = create_body(
            name=spec.label,
            machine_type=label,
            template_id=template_id,
            disk_gb=disk,
            region=region,
            auto_shutdown_after_hours=spec.auto_terminate_hours,
            startup_script=await self._ssh_key_script(spec),
        )
        log.debug(
            "paperspace launch %s in %s from template %s (%s), disk %d GB",
            label,
            region,
            template_id,
            template.get("name") if template else None,
            disk,
        )
        answer = await self.http.request("POST", "/machines", json_body=body, kind="launch")
        instance = parse_created(answer, self.catalogue)
        return instance.model_copy(
            update={"offer_id": spec.offer.id, "request_id": spec.request_id}
        )

    # -- manage ---------------------------------------------------------------------------

    def _machine_path(self, provider_id: str, action: str = "") -> str:
        if not provider_id.strip():
            raise InvalidRequest(self.name, "no machine id given")
        path = f"/machines/{_quote_path(provider_id.strip(), safe='')}"
        return f"{path}/{action}" if action else path

    async def _operate(self, provider_id: str, action: str) -> None:
        answer = await self.http.request(
            "PATCH", self._machine_path(provider_id, action), kind="write", allow_empty=True
        )
        error = event_error(answer)
        if error is not None:
            raise InvalidRequest(self.name, f"could not {action} machine {provider_id}: {error}")

    async def start(self, provider_id: str) -> None:
        await self._operate(provider_id, "start")

    async def stop(self, provider_id: str) -> None:
        await self._operate(provider_id, "stop")

    async def restart(self, provider_id: str) -> None:
        await self._operate(provider_id, "restart")

    async def terminate(self, provider_id: str) -> None:
        await self.http.request(
            "DELETE", self._machine_path(provider_id), kind="write", allow_empty=True
        )
