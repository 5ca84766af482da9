"""Vast.ai: the marketplace of individual hosts (API_NOTES.md section 1)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from gpucm.domain.cuda import image_cuda, version_key
from gpucm.domain.models import Instance, Offer
from gpucm.domain.provider_names import KEY_ENV, URL_ENV, VAST_AI, display_name
from gpucm.domain.vocabulary import ENV_NAME
from gpucm.providers.adapter import HttpAdapter
from gpucm.providers.base import Capabilities, LaunchSpec, ProviderMeta
from gpucm.providers.errors import (
    AuthError,
    BadResponse,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    redact,
)
from gpucm.providers.vastai_parse import (
    RowError,
    instances_page,
    merge_bids,
    offer_rows,
    parse_instances,
    parse_new_contract,
    parse_offer,
    parse_offers,
)

META = ProviderMeta(
    name=VAST_AI,
    display_name=display_name(VAST_AI),
    website="https://vast.ai",
    default_base_url="https://console.vast.ai",
    key_env=KEY_ENV[VAST_AI],
    url_env=URL_ENV[VAST_AI],
    capabilities=Capabilities(
        stop_start=True,
        restart=True,
        spot=True,
        container_image=True,
        env_vars=True,
        port_mapping=True,
        # Vast hands logs out as a link on another host that has to be polled; see
        # VastAiAdapter.logs.
        logs=False,
        storage_billed_separately=True,
    ),
    regions=("US-East", "US-Central", "US-West", "Canada", "Europe", "Asia", "Oceania"),
    availability=(
        "each offer is one host's free GPUs: high while it can be rented, none once it is rented"
    ),
)

# The filters the official CLI adds to every search: without them the answer is full of
# rows nobody can rent.
DEFAULT_FILTERS: dict[str, dict[str, Any]] = {
    "verified": {"eq": True},
    "external": {"eq": False},
    "rentable": {"eq": True},
    "rented": {"eq": False},
}

_NUMERIC_ID = re.compile(r"[1-9][0-9]{0,18}\Z")
_AUTH_CODES = frozenset({"auth_error", "invalid_key", "invalid_user_key", "unauthorized"})
_GONE_CODES = frozenset({"no_such_ask", "ask_unavailable", "offer_unavailable"})
_MAX_ONSTART_BYTES = 4096  # Vast cuts longer onstart scripts
# the create's `price` (a bid for the whole offer, $/h): vast-ai/docs create_instance.yaml
MIN_BID_PRICE = 0.001
MAX_BID_PRICE = 128.0

log = logging.getLogger(__name__)


class VastAiAdapter(HttpAdapter):
    meta = META
    # Vast limits each endpoint to one call per ~1-3 s per key and IP, and sends no
    # Retry-After: pacing avoids most 429s instead of retrying into them.
    request_interval: ClassVar[float] = 1.0

    # The whole market, a page of asks at a time in id order (`id > last`): the search
    # has no offset, and no documented cap on `limit`. gpucm used to ask for the top
    # 1000 by score; gpuhunt asks 3000, SkyPilot's catalogue fetcher 10000. No public
    # source says how many asks the default search returns; 5000 rows (~13 MB) a page
    # keeps each answer well under the body limit, and 20 pages is far past any market
    # seen. The search endpoint allows ~10 calls a minute per IP (vast-ai/docs
    # search_offers.yaml), so pages and the bid search share that.
    OFFER_PAGE_SIZE: ClassVar[int] = 5000
    MAX_OFFER_PAGES: ClassVar[int] = 20
    # Storage folded into every quoted `dph_total` (GB). Always sent: the server's own
    # default has changed over time, and it changes every price.
    ALLOCATED_STORAGE_GB: ClassVar[float] = 10.0
    OFFER_ORDER: ClassVar[tuple[tuple[str, str], ...]] = (("id", "asc"),)
    DEFAULT_DISK_GB: ClassVar[float] = 20.0
    # Vast's documented default image; the tag resolves to one matching the host's CUDA.
    DEFAULT_IMAGE: ClassVar[str] = "vastai/base-image:@vastai-automatic-tag"
    INSTANCE_PAGE_SIZE: ClassVar[int] = 25  # the v1 list's maximum
    MAX_INSTANCE_PAGES: ClassVar[int] = 400

    # -- offers ----------------------------------------------------------------------

    def search_query(self, *, kind: str = "on-demand", **filters: Any) -> dict[str, Any]:
        """The bundles search body: the CLI's defaults, then `filters`. `kind` is
        `on-demand` or `bid` (interruptible pricing for the same asks)."""
        query: dict[str, Any] = {name: dict(op) for name, op in DEFAULT_FILTERS.items()}
        query["num_gpus"] = {"gte": 1}
        query.update(filters)
        query["order"] = [list(pair) for pair in self.OFFER_ORDER]
        query["type"] = kind
        query["allocated_storage"] = self.ALLOCATED_STORAGE_GB
        query["limit"] = self.OFFER_PAGE_SIZE
        return query

    async def _search_all(self, kind: str) -> dict[str, list[Any]]:
        """Every ask of one search, page by page (`id > the last id seen`)."""
        rows: list[Any] = []
        after = 0
        for _ in range(self.MAX_OFFER_PAGES):
            filters = {"id": {"gt": after}} if after else {}
            body = await self.http.request(
                "POST", "/api/v0/bundles/", json_body=self.search_query(kind=kind, **filters)
            )
            page = offer_rows(body)
            rows.extend(page)
            ids = [
                i
                for i in (row.get("id") if isinstance(row, Mapping) else None for row in page)
                if isinstance(i, int) and not isinstance(i, bool)
            ]
            # A short page is the last; so is one whose ids do not move on (a server
            # that ignores the filter must not make gpucm ask for ever).
            if len(page) < self.OFFER_PAGE_SIZE or not ids or max(ids) <= after:
                break
            after = max(ids)
        else:
            log.info(
                "vast_ai: the %s search still had asks after %d pages; kept the first %d",
                kind,
                self.MAX_OFFER_PAGES,
                len(rows),
            )
        return {"offers": rows}

    async def fetch_offers(self) -> list[Offer]:
        body = await self._search_all("on-demand")
        offers = parse_offers(body, self.clock(), self.ALLOCATED_STORAGE_GB)
        try:
            bids = await self._search_all("bid")
        except ProviderError as exc:
            # The on-demand market is whole; its rows' own `min_bid` still prices spot.
            log.info("vast_ai: no interruptible prices this refresh: %s", exc.message)
            return offers
        return merge_bids(offers, bids, self.clock())

    async def quote(self, offer: Offer) -> Offer | None:
        ask_id = self._ask_id(offer)
        fetched_at = self.clock()
        quoted: Offer | None = None
        for kind in ("on-demand", "bid"):
            query = self.search_query(kind=kind, id={"eq": ask_id})
            query["limit"] = 5
            body = await self.http.request("POST", "/api/v0/bundles/", json_body=query)
            if kind == "bid":
                return merge_bids([quoted], body, fetched_at)[0] if quoted else None
            for row in offer_rows(body):
                try:
                    fresh = parse_offer(row, fetched_at, self.ALLOCATED_STORAGE_GB)
                except RowError:
                    continue
                # Match on the id: a server that ignored the filter must not swap offers.
                if fresh.provider_id == str(ask_id):
                    quoted = fresh
                    break
            if quoted is None:
                return None
        return quoted

    # -- launch ----------------------------------------------------------------------

    def create_body(self, spec: LaunchSpec) -> dict[str, Any]:
        """The `PUT /api/v0/asks/{id}/` body; InvalidRequest before anything is sent."""
        disk = spec.disk_gb if spec.disk_gb is not None else self.DEFAULT_DISK_GB
        if disk <= 0:
            raise InvalidRequest(VAST_AI, "the disk size must be above 0 GB")
        room = spec.offer.storage_gb
        if room is not None and disk > room:
            raise InvalidRequest(
                VAST_AI,
                f"this host has only {room:g} GB of disk to give; ask for less "
                f"(--disk) or pick another offer",
            )
        env: dict[str, str] = {}
        for name, value in spec.environment:
            # A key that is not a plain variable name would reach docker as a flag.
            if not ENV_NAME.match(name):
                raise InvalidRequest(
                    VAST_AI,
                    f"{name!r} is not a valid environment variable name "
                    "(letters, digits and _, not starting with a digit)",
                )
            env[name] = value
        for port, protocol in spec.ports:
            if not 1 <= port <= 65535:
                raise InvalidRequest(VAST_AI, f"port {port} is not between 1 and 65535")
            suffix = "/udp" if protocol == "udp" else ""
            env[f"-p {port}:{port}{suffix}"] = "1"
        image = spec.image or self.DEFAULT_IMAGE
        self._check_cuda(spec.offer, image)
        body: dict[str, Any] = {
            "client_id": "me",
            "image": image,
            "disk": int(disk) if float(disk).is_integer() else disk,
            "label": spec.label,
            "env": env,
            "runtype": "ssh_direct",
            # Fail now rather than leave a stopped instance that bills storage (for a
            # bid too: Vast's own default would leave it waiting, stopped, for a host).
            "cancel_unavail": True,
        }
        if spec.interruptible:
            body["price"] = self._bid_price(spec)
        if spec.onstart_script:
            if len(spec.onstart_script.encode()) > _MAX_ONSTART_BYTES:
                raise InvalidRequest(
                    VAST_AI,
                    f"the onstart script is over {_MAX_ONSTART_BYTES // 1024} KB, Vast.ai's "
                    "limit; download a longer script from the onstart instead",
                )
            body["onstart"] = spec.onstart_script
        return body

    def _bid_price(self, spec: LaunchSpec) -> float:
        """The create's `price`: the bid for the whole offer, $/h ("per machine")."""
        price = round(spec.bid(VAST_AI) * spec.offer.gpu_count, 6)
        if not MIN_BID_PRICE <= price <= MAX_BID_PRICE:
            raise InvalidRequest(
                VAST_AI,
                f"a bid of ${price:g}/h for the whole offer is outside what Vast.ai takes "
                f"(${MIN_BID_PRICE:g} to ${MAX_BID_PRICE:g}/h)",
            )
        return price

    @staticmethod
    def _billed(offer: Offer, body: dict[str, Any]) -> float:
        """$/h the instance bills: the offer's price, or for a bid the bid plus the
        storage the offer's price folds in (dph_total = compute + storage)."""
        bid = body.get("price")
        if not isinstance(bid, float):
            return offer.price_per_hour
        storage = offer.provider_data.get("storage_total_cost")
        return bid + (storage if isinstance(storage, float) else 0.0)

    def _check_cuda(self, offer: Offer, image: str) -> None:
        """Refuse an image that needs a newer CUDA than the host's driver runs: it
        would fail at start, after the instance began to bill."""
        needed = image_cuda(image)
        host = offer.cuda_version
        if needed is None or host is None:
            return
        if version_key(needed) > version_key(f"{host:g}"):
            raise InvalidRequest(
                VAST_AI,
                f"the image needs CUDA {needed}, and this host's driver runs CUDA {host:g} "
                "at most; pick an offer with cuda>=" + needed + " or an older image",
            )

    async def launch(self, spec: LaunchSpec) -> Instance:
        ask_id = self._ask_id(spec.offer)
        if spec.file_systems:
            raise self.unsupported("Vast.ai has no shared filesystems to attach")
        body = self.create_body(spec)
        try:
            answer = await self.http.request(
                "PUT", f"/api/v0/asks/{ask_id}/", json_body=body, kind="launch"
            )
        except NotFound as exc:
            # Only the ask is addressed here: a 404 means it was rented or withdrawn.
            raise CapacityError(
                VAST_AI,
                f"the offer is gone ({exc.message}); refresh and pick another offer",
                status=exc.status,
            ) from None
        contract = parse_new_contract(answer)
        pid = str(contract)
        offer = spec.offer
        return Instance(
            id=self.instance_id(pid),
            provider=VAST_AI,
            provider_id=pid,
            name=spec.label,
            status="provisioning",
            gpu_name=offer.gpu_name,
            gpu_count=offer.gpu_count,
            cpu_count=offer.vcpus,
            ram_gb=offer.ram_gb,
            storage_gb=float(body["disk"]),
            price_per_hour=self._billed(offer, body),
            region=offer.region or None,
            image=body["image"],
            ssh_user="root",
            offer_id=offer.id,
            request_id=spec.request_id,
            created_at=self.clock(),
            interruptible=spec.interruptible,
            provider_data={"ask_id": ask_id, **({"bid": body["price"]} if "price" in body else {})},
        )

    # -- manage ----------------------------------------------------------------------

    async def list_instances(self) -> list[Instance]:
        params: dict[str, str] = {
            "limit": str(self.INSTANCE_PAGE_SIZE),
            "order_by": json.dumps([{"col": "id", "dir": "asc"}], separators=(",", ":")),
            "select_filters": "{}",
        }
        rows: list[Any] = []
        seen_tokens: set[str] = set()
        for _ in range(self.MAX_INSTANCE_PAGES):
            body = await self.http.request("GET", "/api/v1/instances/", params=params)
            page, token = instances_page(body)
            rows.extend(page)
            if token is None:
                break
            if token in seen_tokens:
                raise BadResponse(
                    VAST_AI, "the instance list repeats a page token; try again later"
                )
            seen_tokens.add(token)
            params["after_token"] = token
        else:
            raise BadResponse(
                VAST_AI,
                f"the instance list did not end after {self.MAX_INSTANCE_PAGES} pages",
            )
        unique: dict[str, Instance] = {}
        for instance in parse_instances(rows):
            unique.setdefault(instance.provider_id, instance)
        return list(unique.values())

    async def start(self, provider_id: str) -> None:
        pid = self._instance_id(provider_id)
        await self._manage("PUT", f"/api/v0/instances/{pid}/", {"state": "running"})

    async def stop(self, provider_id: str) -> None:
        pid = self._instance_id(provider_id)
        await self._manage("PUT", f"/api/v0/instances/{pid}/", {"state": "stopped"})

    async def restart(self, provider_id: str) -> None:
        pid = self._instance_id(provider_id)
        await self._manage("PUT", f"/api/v0/instances/reboot/{pid}/", {})

    async def terminate(self, provider_id: str) -> None:
        pid = self._instance_id(provider_id)
        await self._manage("DELETE", f"/api/v0/instances/{pid}/", None)

    async def logs(self, provider_id: str) -> str:
        # The API answers a log request with a link on a storage host that has to be
        # polled until it is ready; the shared HTTP layer is bound to the API host and
        # carries the API key, which must not go to that other host.
        raise self.unsupported(
            "gpucm cannot fetch Vast.ai logs (Vast hands them out as a separate download "
            "link); use `vastai logs <instance id>` or the Vast.ai console"
        )

    async def _manage(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        # {"success": false, ...} inside a 200 is raised by map_error.
        await self.http.request(method, path, json_body=body, kind="write", allow_empty=True)

    # -- errors ----------------------------------------------------------------------

    def map_error(self, status: int, body: Any, text: str) -> ProviderError | None:
        """Vast's JSON error bodies (`{"success": false, "error", "msg"}` or
        `{"detail"}`) as the shared error types, with Vast's own words.

        Plain-text bodies, 429s and 5xx go to the shared mapping, which keeps any
        Retry-After and retries them.
        """
        if not isinstance(body, Mapping):
            return None
        ok = 200 <= status < 300
        if ok and body.get("success") is not False:
            return None
        if status == 429 or status >= 500:
            return None
        code = body.get("error") if isinstance(body.get("error"), str) else None
        code = code.strip().lower() if code else ""
        said = self._said(body)
        detail = f": {said}" if said else ""
        where = "" if ok else f" (HTTP {status})"
        if (
            status in (401, 403)
            or code in _AUTH_CODES
            or (status == 404 and "invalid user key" in said.lower())
        ):
            return AuthError(
                VAST_AI,
                f"the API key was rejected{where}{detail}; check {self.meta.key_env}",
                status=status,
            )
        if code in _GONE_CODES or status == 410:
            return CapacityError(
                VAST_AI,
                f"the offer is gone{where}{detail}; refresh and pick another offer",
                status=status,
            )
        if status == 404 or code.startswith("no_such"):
            return NotFound(VAST_AI, f"not found{where}{detail}", status=status)
        return InvalidRequest(VAST_AI, f"the request was refused{where}{detail}", status=status)

    def _said(self, body: Mapping[str, Any]) -> str:
        """Vast's own message from an error body, short and without the key."""
        parts: list[str] = []
        for key in ("msg", "message", "detail", "error_description"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
                break
            if isinstance(value, list):
                for item in value[:3]:
                    if isinstance(item, Mapping) and isinstance(item.get("msg"), str):
                        parts.append(item["msg"])
                    elif isinstance(item, str):
                        parts.append(item)
                if parts:
                    break
        if not parts and isinstance(body.get("error"), str):
            parts.append(body["error"].strip())
        said = " ".join("; ".join(parts).split())
        if len(said) > 300:
            said = said[:297] + "..."
        key = self.settings.api_key.get_secret_value().strip() if self.settings.api_key else ""
        return redact(said, [key])

    # -- ids -------------------------------------------------------------------------

    def _ask_id(self, offer: Offer) -> int:
        if offer.provider != VAST_AI:
            raise InvalidRequest(VAST_AI, f"offer {offer.id} is not a Vast.ai offer")
        ask = offer.provider_data.get("ask_id")
        if isinstance(ask, int) and not isinstance(ask, bool) and ask > 0:
            return ask
        if _NUMERIC_ID.match(offer.provider_id):
            return int(offer.provider_id)
        raise InvalidRequest(VAST_AI, f"offer {offer.id} has no Vast.ai ask id")

    def _instance_id(self, provider_id: str) -> str:
        pid = provider_id.strip()
        if pid.startswith(f"{VAST_AI}:"):
            pid = pid.split(":", 1)[1]
        if not _NUMERIC_ID.match(pid):
            raise InvalidRequest(
                VAST_AI, f"{provider_id!r} is not a Vast.ai instance id (a number)"
            )
        return pid
