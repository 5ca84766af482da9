"""Launching: the path that spends the user's money. Deliberate, exact, never doubled.

1. `preflight` re-quotes the offer from its provider and says what the launch will cost
   (all-in, for the hours asked), what the provider cannot honour, and what blocks it
   (a vanished offer, the max-price guard, a budget, unmet resource minimums).
2. `launch` writes the request to the journal *before* calling the provider. A request
   id seen before never launches again: a done request returns its instance; one whose
   outcome is unknown (a crash, a timeout after sending) is first looked for at the
   provider by the tag gpucm puts in every instance name.
3. On a capacity failure, `failover_candidates` offers the next-best equivalent (same
   GPU model and count, within the price limit) from any provider.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from gpucm.domain.models import Instance, LaunchRecord, LaunchRequest, Offer, SearchQuery
from gpucm.domain.normalize import normalize_offer
from gpucm.domain.pricing import AllIn, all_in
from gpucm.domain.provider_names import DISPLAY_NAMES, canonical_provider
from gpucm.engine.spend import check_budget, spend
from gpucm.providers.base import LaunchSpec
from gpucm.providers.errors import (
    AuthError,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    Unsupported,
    redact,
)
from gpucm.providers.registry import PROVIDER_META

if TYPE_CHECKING:
    from gpucm.services import Services

log = logging.getLogger(__name__)

# A launch whose outcome is unknown is not retried until this long after it began:
# providers can take a while to list a machine they have just created.
SETTLE = timedelta(minutes=2)
DEFAULT_ESTIMATE_HOURS = 1.0
# without a max-price guard, automatic failover accepts at most this much more
AUTO_FAILOVER_HEADROOM = 1.2
# capacity failures in a row before a failover gives up
MAX_FAILOVERS = 3
# Errors that prove no instance was created: the request may be tried again.
DEFINITIVE = (CapacityError, InvalidRequest, AuthError, NotFound, Unsupported)


class LaunchError(Exception):
    """A launch gpucm will not make, with the reason a person can act on."""


class NoCapacity(LaunchError):
    """Nothing was launched: the offer had no capacity and no equivalent was taken."""


class LaunchInDoubt(LaunchError):
    """The provider may have created the instance; nothing is retried until it is known."""


@dataclass(frozen=True)
class LaunchOptions:
    """What to run, normalised from a LaunchRequest, the TUI form or CLI flags."""

    request_id: str
    label: str
    image: str | None = None
    environment: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[int, str], ...] = ()
    disk_gb: float | None = None
    ssh_key_name: str | None = None
    onstart_script: str | None = None
    max_price_per_hour: float | None = None
    auto_terminate_hours: float | None = None
    min_ram_gb: float | None = None
    min_storage_gb: float | None = None
    min_gpus: int | None = None
    hours: float | None = None  # for the cost estimate

    def __repr__(self) -> str:  # environment values are secrets
        return (
            f"LaunchOptions(request_id={self.request_id!r}, label={self.label!r}, "
            f"image={self.image!r}, env_keys={[k for k, _ in self.environment]!r})"
        )

    @property
    def estimate_hours(self) -> float:
        return self.hours or self.auto_terminate_hours or DEFAULT_ESTIMATE_HOURS

    def masked(self) -> dict[str, Any]:
        """The request as the journal keeps it: environment values never in clear."""
        return {
            "label": self.label,
            "image": self.image,
            "environment": {k: "***" for k, _ in self.environment},
            "ports": [f"{p}/{proto}" for p, proto in self.ports],
            "disk_gb": self.disk_gb,
            "ssh_key_name": self.ssh_key_name,
            "max_price_per_hour": self.max_price_per_hour,
            "auto_terminate_hours": self.auto_terminate_hours,
        }

    @classmethod
    def from_request(cls, req: LaunchRequest, *, hours: float | None = None) -> LaunchOptions:
        res = req.resources
        return cls(
            request_id=req.request_id or new_request_id(),
            label=req.label or "gpucm",
            image=req.image,
            environment=tuple(req.environment.items()),
            ports=tuple((p.container_port, p.protocol) for p in req.ports),
            disk_gb=req.disk_gb or res.min_storage_gb,
            ssh_key_name=req.ssh_key,
            onstart_script=req.onstart_script,
            max_price_per_hour=req.max_price_per_hour,
            auto_terminate_hours=req.auto_terminate_hours,
            min_ram_gb=res.min_ram_gb,
            min_storage_gb=res.min_storage_gb,
            min_gpus=res.min_gpus,
            hours=hours,
        )


@dataclass(frozen=True)
class Preflight:
    """A launch, ready to confirm: the offer as quoted now and what it will cost."""

    listed: Offer  # the offer as the store had it
    offer: Offer  # as the provider quotes it now (== listed if it vanished)
    vanished: bool
    cost: AllIn
    hours: float
    unsupported: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    replaces: Offer | None = None  # failover: the offer this one stands in for

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def price_changed(self) -> bool:
        return not self.vanished and self.offer.price_per_hour != self.listed.price_per_hour

    @property
    def estimated_cost(self) -> float:
        return self.cost.for_hours(self.hours)

    def refusal(self) -> str:
        """One line: why this launch will not happen."""
        o = self.offer
        return (
            f"not launched ({o.gpu_count} x {o.gpu_model}, {o.id}): "
            + "; ".join(self.problems)
            + "; nothing was launched"
        )

    def changes(self) -> list[str]:
        """What a confirmation must point out."""
        out = []
        if self.replaces is not None:
            old = self.replaces
            out.append(
                f"instead of {old.gpu_count} x {old.gpu_model} at "
                f"{DISPLAY_NAMES.get(old.provider, old.provider)} "
                f"(${old.price_per_hour:.3f}/h), which has no capacity"
            )
        if self.price_changed:
            out.append(
                f"the price moved from ${self.listed.price_per_hour:.3f}/h to "
                f"${self.offer.price_per_hour:.3f}/h since the last refresh"
            )
        return out


@dataclass(frozen=True)
class LaunchOutcome:
    instance: Instance
    record: LaunchRecord | None
    reused: bool  # the request id had already launched this instance


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_tag(request_id: str) -> str:
    """The short, name-safe tag gpucm puts in every instance name it launches."""
    return "g" + hashlib.sha256(request_id.encode()).hexdigest()[:8]


def tagged_label(label: str, request_id: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")[:48] or "gpucm"
    return f"{base}-{request_tag(request_id)}"


def confirmed_price(pre: Preflight) -> dict[str, Any]:
    """The all-in price a confirmation showed, as the journal keeps it."""
    cost = pre.cost
    return {
        "per_hour": cost.per_hour,
        "compute_per_hour": cost.compute_per_hour,
        "storage_per_hour": cost.storage_per_hour,
        "storage_estimated": cost.estimated,
        "offer_id": pre.offer.id,
    }


def unsupported_fields(provider: str, options: LaunchOptions) -> list[str]:
    """Fields the provider cannot honour: shown to the user, never silently dropped."""
    caps = PROVIDER_META[provider].capabilities
    name = DISPLAY_NAMES.get(provider, provider)
    vm = not caps.container_image
    notes = []
    if options.image and not caps.container_image:
        notes.append(f"image: {name} runs VMs with its own OS image; the image is not used")
    if options.environment and not caps.env_vars:
        notes.append(
            f"environment: {name} cannot set environment variables"
            + ("; set them on the VM" if vm else "")
        )
    if options.ports and not caps.port_mapping:
        notes.append(f"ports: {name} has no port mapping; open ports on the VM")
    if options.auto_terminate_hours and not caps.auto_terminate:
        notes.append(f"auto-terminate: {name} cannot stop a machine on a timer")
    if options.ssh_key_name and not caps.ssh_key_per_launch:
        notes.append(f"SSH key: {name} uses the keys saved in your account, not one per launch")
    return notes


class Launcher:
    def __init__(self, services: Services) -> None:
        self.services = services

    # -- finding the offer ----------------------------------------------------------

    async def resolve_offer(self, offer_id: str, provider: str | None = None) -> Offer:
        """An offer by gpucm's id (`vast_ai:123`) or by the provider's own id, as the
        original API's clients send it (then `provider` is needed)."""
        store = self.services.store
        offer = await store.get_offer(offer_id)
        if offer is None and provider:
            name = canonical_provider(provider)
            if name is None:
                raise LaunchError(f"unknown provider {provider!r}")
            offer = await store.get_offer(f"{name}:{offer_id}")
        if offer is None:
            raise LaunchError(
                f"no offer {offer_id!r} in the store; run `gpucm refresh` or pick a current one"
            )
        return offer

    async def cheapest(self, query: SearchQuery) -> Offer:
        page = await self.services.store.search(
            query.model_copy(
                update={"available": True, "sort_by": "price", "sort_order": "asc", "limit": 1}
            )
        )
        if not page.offers:
            raise LaunchError("no available offer matches")
        return page.offers[0]

    # -- preflight ------------------------------------------------------------------

    async def preflight(
        self, offer: Offer, options: LaunchOptions, *, replaces: Offer | None = None
    ) -> Preflight:
        control = self.services.control(offer.provider)
        current = await control.quote(offer)
        vanished = current is None
        # a provider's quote speaks its own GPU names: normalise it like a refresh does
        quoted = normalize_offer(current, self.services.catalog) if current else offer
        cost = all_in(quoted, options.disk_gb)
        problems: list[str] = []
        if vanished:
            problems.append(
                f"the offer is gone: {offer.provider} no longer lists it (or it is rented)"
            )
        if options.max_price_per_hour is not None and cost.per_hour > options.max_price_per_hour:
            problems.append(
                f"${cost.per_hour:.3f}/h is over your maximum of "
                f"${options.max_price_per_hour:.3f}/h"
            )
        problems.extend(self._resource_problems(quoted, options))
        instances = await self.services.store.instances.list()
        budget = check_budget(
            self.services.settings.budget,
            spend(instances, self.services.clock()),
            cost.per_hour,
        )
        problems.extend(budget.problems)
        warnings = list(budget.warnings)
        if cost.estimated:
            name = DISPLAY_NAMES.get(offer.provider, offer.provider)
            warnings.append(
                f"storage is billed separately at {name}: the all-in price includes "
                f"${cost.storage_per_hour:.3f}/h for {options.disk_gb:g} GB (estimated)"
            )
        return Preflight(
            listed=offer,
            offer=quoted,
            vanished=vanished,
            cost=cost,
            hours=options.estimate_hours,
            unsupported=unsupported_fields(offer.provider, options),
            problems=problems,
            warnings=warnings,
            replaces=replaces,
        )

    def _resource_problems(self, offer: Offer, options: LaunchOptions) -> list[str]:
        out = []
        if options.min_gpus and offer.gpu_count < options.min_gpus:
            out.append(f"{offer.gpu_count} GPUs, fewer than the {options.min_gpus} asked for")
        if options.min_ram_gb and offer.ram_gb is not None and offer.ram_gb < options.min_ram_gb:
            out.append(f"{offer.ram_gb:g} GB RAM, less than the {options.min_ram_gb:g} asked for")
        if (
            options.min_storage_gb
            and offer.storage_gb is not None
            and offer.storage_gb < options.min_storage_gb
        ):
            out.append(
                f"{offer.storage_gb:g} GB disk, less than the {options.min_storage_gb:g} asked for"
            )
        return out

    # -- failover -------------------------------------------------------------------

    async def failover_candidates(
        self,
        failed: Offer,
        options: LaunchOptions,
        *,
        exclude: Sequence[str] = (),
        limit: int = 5,
    ) -> list[Preflight]:
        """Equivalent offers (same GPU model and count) from any provider, cheapest
        first, within the user's max price (or, without one, modestly above the failed
        offer), each re-quoted and ready to confirm."""
        ceiling = options.max_price_per_hour or failed.price_per_hour * AUTO_FAILOVER_HEADROOM
        page = await self.services.store.search(
            SearchQuery(
                gpu_models=(failed.gpu_model,),
                min_gpu_count=failed.gpu_count,
                max_price=ceiling,
                limit=50,
            )
        )
        skip = {failed.id, *exclude}
        out: list[Preflight] = []
        for candidate in page.offers:
            if len(out) >= limit:
                break
            if (
                candidate.id in skip
                or candidate.gpu_model != failed.gpu_model
                or candidate.gpu_count != failed.gpu_count
                or self.services.source(candidate.provider) is None
            ):
                continue
            try:
                pre = await self.preflight(candidate, options, replaces=failed)
            except ProviderError as exc:
                log.info("failover candidate %s skipped: %s", candidate.id, exc)
                continue
            if pre.ok:
                out.append(pre)
        return out

    # -- launching ------------------------------------------------------------------

    async def launch(self, pre: Preflight, options: LaunchOptions) -> LaunchOutcome:
        """Launch what `pre` describes, at most once per request id."""
        if not pre.ok:
            raise LaunchError("; ".join(pre.problems))
        offer = pre.offer
        journal = self.services.store.journal
        # the price the user confirmed, kept with the request: the instance manager
        # shows it beside what the provider bills later
        request = {**options.masked(), "confirmed": confirmed_price(pre)}
        record, new = await journal.begin(
            request_id=options.request_id,
            provider=offer.provider,
            offer_id=offer.id,
            label=options.label,
            request=request,
        )
        if not new:
            settled = await self._settle(record)
            if settled is not None:
                return settled
            await journal.update(
                options.request_id,
                "pending",
                provider=offer.provider,
                offer_id=offer.id,
                request=request,
            )
        control = self.services.control(offer.provider)
        spec = LaunchSpec(
            offer=offer,
            label=tagged_label(options.label, options.request_id),
            request_id=options.request_id,
            image=options.image,
            environment=options.environment,
            ports=options.ports,
            disk_gb=options.disk_gb,
            ssh_key_name=options.ssh_key_name,
            onstart_script=options.onstart_script,
            auto_terminate_hours=options.auto_terminate_hours,
        )
        try:
            instance = await control.launch(spec)
        except DEFINITIVE as exc:
            await journal.update(options.request_id, "failed", error=self._clean(str(exc)))
            raise
        except Exception as exc:
            # it may have been created: look before anyone retries
            found = await self._find(offer.provider, options.request_id)
            if found is not None:
                return await self._done(options.request_id, found, offer)
            await journal.update(options.request_id, "unknown", error=self._clean(str(exc)))
            raise LaunchInDoubt(
                f"{self._clean(str(exc))}. The launch may still have happened: gpucm will "
                f"check {DISPLAY_NAMES.get(offer.provider, offer.provider)} before trying "
                "this request again (see `gpucm instances list`)."
            ) from None
        return await self._done(options.request_id, instance, offer)

    async def launch_failing_over(
        self,
        pre: Preflight,
        options: LaunchOptions,
        choose: Callable[[str, list[Preflight]], Awaitable[Preflight]],
    ) -> tuple[LaunchOutcome, Preflight]:
        """Launch `pre`; when the provider has no capacity, `choose` gets the failure and
        the equivalents (cheapest first, each re-quoted) and returns the one to try next,
        or raises to stop. One request id throughout, so at most one instance results.
        Returns the outcome and the offer that was launched."""
        current = pre
        tried: list[str] = []
        while True:
            try:
                return await self.launch(current, options), current
            except CapacityError as exc:
                failure = self._clean(str(exc))
            tried.append(current.offer.id)
            if len(tried) > MAX_FAILOVERS:
                raise NoCapacity(
                    f"{failure}; {len(tried)} offers in a row had no capacity; nothing was launched"
                )
            candidates = await self.failover_candidates(pre.offer, options, exclude=tried)
            if not candidates:
                raise NoCapacity(
                    f"{failure}; no equivalent offer ({pre.offer.gpu_count} x "
                    f"{pre.offer.gpu_model} within the price limit) is available; "
                    "nothing was launched"
                )
            current = await choose(failure, candidates)

    async def existing(self, request_id: str) -> LaunchOutcome | None:
        """The instance a request id already launched, looked up *before* any re-quote
        (an offer is usually gone once rented, and that must not fail a safe re-run);
        None when the request may be tried (never seen, or failed for sure). Raises
        LaunchError when it launched something no longer listed or is still in doubt."""
        store = self.services.store
        record = await store.journal.get(request_id)
        if record is None or record.state == "failed":
            return None
        if record.state == "done" and record.instance_id:
            instance = await store.instances.get(record.instance_id)
            if instance is None:
                raise LaunchError(
                    f"request {request_id} already launched {record.instance_id}, which is"
                    " no longer listed; use a new request id to launch again"
                )
            return LaunchOutcome(instance, record, reused=True)
        # pending or unknown, and start-up reconciliation could not settle it yet
        raise LaunchInDoubt(
            f"request {request_id} was sent to"
            f" {DISPLAY_NAMES.get(record.provider, record.provider)} at"
            f" {record.updated_at:%H:%M:%S} UTC and its outcome is not known yet; nothing"
            " was launched again; try again in a couple of minutes"
        )

    async def _done(
        self, request_id: str, instance: Instance, offer: Offer | None
    ) -> LaunchOutcome:
        """Record a launched instance (with what the offer said where it says less)."""
        update: dict[str, Any] = {"request_id": request_id}
        if offer is not None:
            update["offer_id"] = instance.offer_id or offer.id
            update["price_per_hour"] = instance.price_per_hour or offer.price_per_hour
        instance = instance.model_copy(update=update)
        await self.services.store.instances.upsert(instance)
        await self.services.store.journal.update(request_id, "done", instance_id=instance.id)
        record = await self.services.store.journal.get(request_id)
        return LaunchOutcome(instance, record, reused=False)

    async def _settle(self, record: LaunchRecord) -> LaunchOutcome | None:
        """A request id seen before: its instance if it launched; None if it may be
        tried (it failed for sure, or never reached the provider); or LaunchInDoubt."""
        store = self.services.store
        if record.state == "done" and record.instance_id:
            instance = await store.instances.get(record.instance_id)
            if instance is None:
                instance = await self._find(record.provider, record.request_id)
            if instance is None:
                raise LaunchError(
                    f"request {record.request_id} already launched {record.instance_id}, "
                    "which is no longer listed; use a new request id to launch again"
                )
            return LaunchOutcome(instance, record, reused=True)
        if record.state == "failed":
            return None
        found = await self._find(record.provider, record.request_id)
        if found is not None:
            outcome = await self._done(
                record.request_id, found, await store.get_offer(record.offer_id)
            )
            return LaunchOutcome(outcome.instance, outcome.record, reused=True)
        if self.services.clock() - record.updated_at < SETTLE:
            raise LaunchInDoubt(
                f"request {record.request_id} was sent to {record.provider} at "
                f"{record.updated_at:%H:%M:%S} UTC and its outcome is not known yet; "
                "try again in a couple of minutes"
            )
        return None  # long enough: it never launched

    async def _find(self, provider: str, request_id: str) -> Instance | None:
        tag = request_tag(request_id)
        try:
            instances = await self.services.control(provider).list_instances()
        except Exception as exc:
            log.warning(
                "could not list %s instances to settle a launch: %s",
                provider,
                self._clean(str(exc)),
            )
            return None
        for inst in instances:
            if inst.name.endswith(tag) or tag in inst.name:
                return inst.model_copy(update={"request_id": request_id})
        return None

    def _clean(self, text: str) -> str:
        return redact(text, self.services.settings.secrets())

    async def reconcile(self) -> list[LaunchRecord]:
        """Settle launches left pending or unknown (a crash, a timeout): run at start."""
        settled = []
        for record in await self.services.store.journal.unsettled():
            if self.services.source(record.provider) is None:
                continue
            found = await self._find(record.provider, record.request_id)
            if found is not None:
                offer = await self.services.store.get_offer(record.offer_id)
                await self._done(record.request_id, found, offer)
            elif self.services.clock() - record.updated_at >= SETTLE:
                await self.services.store.journal.update(
                    record.request_id,
                    "failed",
                    error="no instance appeared at the provider; the launch did not happen",
                )
            else:
                continue
            updated = await self.services.store.journal.get(record.request_id)
            if updated is not None:
                settled.append(updated)
        return settled


def options_from_mapping(
    data: Mapping[str, Any], *, request_id: str | None = None
) -> LaunchOptions:
    """LaunchOptions from the original API's create body (validated as LaunchRequest)."""
    req = LaunchRequest.model_validate(dict(data))
    if request_id:
        req = req.model_copy(update={"request_id": request_id})
    return LaunchOptions.from_request(req)
