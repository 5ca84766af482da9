"""Launching: the path that spends the user's money. Deliberate, exact, never doubled.

The steps of the one launch flow (engine/launch_flow.py strings them together; every
front end calls that):

1. `preflight` re-quotes the offer from its provider and says what the launch will cost
   (all-in, for the hours asked), what the provider cannot honour, and what blocks it
   (a vanished offer, the max-price guard, a budget, unmet resource minimums).
2. `launch` writes the request to the journal *before* calling the provider, and in the
   same transaction reserves its all-in rate against the budget (what runs plus every
   launch on its way, from every process): a launch that would pass the budget is
   refused there, whatever the preflight saw. A request id seen before never launches
   again: a done request returns its instance; one whose outcome is unknown (a crash,
   a timeout after sending) is first looked for at the provider by the tag gpucm puts
   in every instance name; one used for a different request is refused.
3. On a capacity failure, `failover_candidates` offers the next-best equivalent (same
   GPU model and count, within the price limit) from any provider; the flow offers it
   too when the preflight finds the offer gone or over the maximum.

An interruptible (spot) launch goes the same way, priced at its bid: the preflight
checks the bid against the provider's minimum now (or picks the default: the minimum
plus a small margin), the all-in price, the maximum and the budget's reservation are
the bid's, and the request's fingerprint includes it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from gpucm.domain.models import Instance, LaunchRecord, Offer, SearchQuery
from gpucm.domain.normalize import normalize_offer
from gpucm.domain.pricing import AllIn, all_in, default_bid, interruptible_price
from gpucm.domain.provider_names import canonical_provider, display_name
from gpucm.engine.capabilities import launch_caveats, not_honoured, unsupported_fields
from gpucm.engine.events import Events, launch_json
from gpucm.engine.launch_errors import EarlierInDoubt, NoCapacity, OverBudget, same_request

# api/errors.py and some tests import these from here; they live in launch_errors.py
# and launch_options.py.
from gpucm.engine.launch_errors import LaunchError as LaunchError
from gpucm.engine.launch_errors import LaunchInDoubt as LaunchInDoubt
from gpucm.engine.launch_options import LaunchOptions as LaunchOptions
from gpucm.engine.launch_options import new_request_id as new_request_id
from gpucm.engine.launch_options import offer_target, request_fingerprint, request_tag
from gpucm.engine.launch_options import tagged_label as tagged_label
from gpucm.engine.ports import BudgetLimits, EnginePorts
from gpucm.engine.spend import BudgetCheck, check_budget, hours_left_in_month
from gpucm.providers.base import InstanceControl, LaunchSpec
from gpucm.providers.errors import (
    AuthError,
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    Unsupported,
    redact,
)
from gpucm.store.results import CommittedSpend

log = logging.getLogger(__name__)

# A launch whose outcome is unknown is not retried until this long after it began:
# providers can take a while to list a machine they have just created.
SETTLE = timedelta(minutes=2)
# without a max-price guard, automatic failover accepts at most this much more
AUTO_FAILOVER_HEADROOM = 1.2
# capacity failures in a row before a failover gives up
MAX_FAILOVERS = 3
# Errors that prove no instance was created: the request may be tried again.
DEFINITIVE = (CapacityError, InvalidRequest, AuthError, NotFound, Unsupported)


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
    replaced_why: str = "which has no capacity"  # why `replaces` is not launched
    # an interruptible launch: the bid per GPU-hour it sends (None: on demand)
    bid_per_gpu: float | None = None
    over_maximum: bool = False  # the all-in price is above the user's maximum
    # what the budget said, also among problems and warnings (for the budget events)
    budget_problems: tuple[str, ...] = ()
    budget_warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def interruptible(self) -> bool:
        return self.bid_per_gpu is not None

    @property
    def replaceable(self) -> bool:
        """Refused for what an equivalent offer may not have: the offer is gone, or
        priced over the maximum (a budget or a bad bid is the request's, not the
        offer's, and follows it to any equivalent)."""
        return bool(self.problems) and (self.vanished or self.over_maximum)

    def _price(self, offer: Offer) -> float | None:
        return offer.spot_price_per_hour if self.interruptible else offer.price_per_hour

    @property
    def price_changed(self) -> bool:
        before, now = self._price(self.listed), self._price(self.offer)
        return not self.vanished and before is not None and now is not None and before != now

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
                f"{display_name(old.provider)} "
                f"(${old.price_per_hour:.3f}/h), {self.replaced_why}"
            )
        if self.price_changed:
            what = "interruptible price" if self.interruptible else "price"
            out.append(
                f"the {what} moved from ${self._price(self.listed) or 0:.3f}/h to "
                f"${self._price(self.offer) or 0:.3f}/h since the last refresh"
            )
        return out


@dataclass(frozen=True)
class LaunchOutcome:
    instance: Instance
    record: LaunchRecord | None
    reused: bool  # the request id had already launched this instance
    preflight: Preflight | None = None  # what was launched, at what price (None: reused)


def _parts(cost: AllIn) -> dict[str, Any]:
    return {
        "compute_per_hour": cost.compute_per_hour,
        "storage_per_hour": cost.storage_per_hour,
        "storage_estimated": cost.estimated,
        "egress_per_hour": cost.egress_per_hour,
    }


class Launcher:
    """The launch steps, over the engine's ports. `ports.settings` and `ports.catalog`
    are read afresh at each step (the config file may change under a running TUI)."""

    def __init__(self, ports: EnginePorts) -> None:
        self.ports = ports
        self.store = ports.store
        self.events = Events(ports.events, ports.clock) if ports.events is not None else None

    # -- finding the offer ----------------------------------------------------------

    async def resolve_offer(self, offer_id: str, provider: str | None = None) -> Offer:
        """An offer by gpucm's id (`vast_ai:123`) or by the provider's own id, as the
        original API's clients send it (then `provider` is needed)."""
        offer = await self.store.get_offer(offer_id)
        if offer is None and provider:
            name = canonical_provider(provider)
            if name is None:
                raise LaunchError(f"unknown provider {provider!r}")
            offer = await self.store.get_offer(f"{name}:{offer_id}")
        if offer is None:
            raise LaunchError(
                f"no offer {offer_id!r} in the store; run `gpucm refresh` or pick a current one"
            )
        return offer

    async def cheapest(self, query: SearchQuery, *, interruptible: bool = False) -> Offer:
        """The cheapest available match: on demand, or by its interruptible price (an
        offer without one is no match for an interruptible launch)."""
        sort = "spot" if interruptible else "price"
        page = await self.store.search(
            query.model_copy(
                update={"available": True, "sort_by": sort, "sort_order": "asc", "limit": 1}
            )
        )
        if not page.offers or (interruptible and page.offers[0].spot_price_per_hour is None):
            raise LaunchError("no available offer matches")
        return page.offers[0]

    # -- preflight ------------------------------------------------------------------

    async def preflight(
        self,
        offer: Offer,
        options: LaunchOptions,
        *,
        replaces: Offer | None = None,
        replaced_why: str = "which has no capacity",
    ) -> Preflight:
        control = self.ports.providers.control(offer.provider)
        current = await control.quote(offer)
        vanished = current is None
        # a provider's quote speaks its own GPU names: normalise it like a refresh does
        quoted = normalize_offer(current, self.ports.catalog()) if current else offer
        problems = not_honoured(offer.provider, options)
        warnings: list[str] = []
        bid: float | None = None
        if options.interruptible and not problems:
            bid = self._bid(control, quoted, options, problems)
        cost = all_in(quoted, options.disk_gb, options.gb_out_per_hour, bid_per_gpu=bid)
        if bid is not None and cost.compute_per_hour >= quoted.price_per_hour:
            warnings.append(
                f"at this bid, interruptible costs ${cost.compute_per_hour:.3f}/h, as much "
                f"as on demand (${quoted.price_per_hour:.3f}/h) or more"
            )
        if vanished:
            problems.append(
                f"the offer is gone: {display_name(offer.provider)} no longer lists it "
                "(or it is rented)"
            )
        over_maximum = (
            options.max_price_per_hour is not None and cost.per_hour > options.max_price_per_hour
        )
        if over_maximum:
            assert options.max_price_per_hour is not None
            problems.append(
                f"${cost.per_hour:.3f}/h is over your maximum of "
                f"${options.max_price_per_hour:.3f}/h"
            )
        problems.extend(self._resource_problems(quoted, options))
        # what the budget holds now; the launch decides again when it reserves
        committed = await self.store.journal.committed()
        budget = self._check(self.ports.settings().budget, committed, cost.per_hour)
        problems.extend(budget.problems)
        warnings.extend(budget.warnings)
        warnings.extend(launch_caveats(offer.provider, options))
        if cost.estimated:
            warnings.append(
                f"storage is billed separately at {display_name(offer.provider)}: the "
                f"all-in price includes ${cost.storage_per_hour:.3f}/h for "
                f"{options.disk_gb:g} GB (estimated)"
            )
        if cost.egress_per_hour:
            warnings.append(
                f"egress is billed per GB at {display_name(offer.provider)}: the all-in "
                f"price includes ${cost.egress_per_hour:.3f}/h for "
                f"{options.gb_out_per_hour:g} GB out per hour"
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
            replaced_why=replaced_why,
            bid_per_gpu=bid,
            over_maximum=over_maximum,
            budget_problems=tuple(budget.problems),
            budget_warnings=tuple(budget.warnings),
        )

    @staticmethod
    def _bid(
        control: InstanceControl, offer: Offer, options: LaunchOptions, problems: list[str]
    ) -> float | None:
        """The bid per GPU-hour an interruptible launch sends: the one asked for, else
        the provider's minimum now plus a small margin. What stands in its way goes to
        `problems`."""
        name = display_name(offer.provider)
        # RunPod after GraphQL's retirement: its adapter says why, in one line
        refusal = getattr(control, "spot_refusal", None)
        if isinstance(refusal, str) and refusal:
            problems.append(refusal)
            return None
        minimum = offer.min_bid_per_gpu_hour
        asked = options.bid_per_gpu
        if asked is None:
            if minimum is None:
                problems.append(
                    f"{name} quotes no interruptible price for this offer now; launch it "
                    "on demand or pick an offer with a spot price"
                )
                return None
            return default_bid(minimum)
        if minimum is not None and asked < minimum:
            problems.append(
                f"a bid of ${asked:.4f}/GPU·h is below the minimum of ${minimum:.4f}/GPU·h "
                f"{name} takes for this offer now"
            )
        return asked

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
        why: str = "which has no capacity",
    ) -> list[Preflight]:
        """Equivalent offers (same GPU model and count) from any provider, cheapest
        first, within the user's max price (or, without one, modestly above the failed
        offer), each re-quoted and ready to confirm. For an interruptible launch: offers
        rented interruptible, by their price at the launch's bid."""
        ceiling = failover_ceiling(failed, options)
        spot = options.interruptible
        page = await self.store.search(
            SearchQuery(
                gpu_models=(failed.gpu_model,),
                min_gpu_count=failed.gpu_count,
                # a spot price is not the on-demand one: the ceiling is checked below
                max_price=None if spot else ceiling,
                sort_by="spot" if spot else "price",
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
                or not self.ports.providers.is_active(candidate.provider)
                or not_honoured(candidate.provider, options)
                or (spot and candidate.spot_price_per_hour is None)
            ):
                continue
            try:
                pre = await self.preflight(candidate, options, replaces=failed, replaced_why=why)
            except ProviderError as exc:
                log.info("failover candidate %s skipped: %s", candidate.id, exc)
                continue
            if pre.ok and pre.cost.compute_per_hour <= ceiling:
                out.append(pre)
        return out

    # -- launching ------------------------------------------------------------------

    async def launch(
        self,
        pre: Preflight,
        options: LaunchOptions,
        *,
        target: str | None = None,
        fingerprint: str | None = None,
    ) -> LaunchOutcome:
        """Launch what `pre` describes, at most once per request id, holding its all-in
        rate against the budget from the journal entry on. `target` is the offer (or
        search) the request asked for and `fingerprint` its hash (`request_fingerprint`);
        both default to the offer `pre` stands in for."""
        if not pre.ok:
            raise LaunchError("; ".join(pre.problems))
        offer = pre.offer
        if target is None:
            target = offer_target((pre.replaces or pre.listed).id)
        if fingerprint is None:
            fingerprint = request_fingerprint(target, options)
        journal = self.store.journal
        per_hour = pre.cost.per_hour
        record, new = await journal.begin(
            request_id=options.request_id,
            provider=offer.provider,
            offer_id=offer.id,
            label=options.label,
            # the all-in's parts, for the instance manager to say why a provider's
            # rate differs from what was confirmed (the journal keeps the total)
            request={
                **options.masked(),
                "target": target,
                "confirmed": _parts(pre.cost),
                "by": self.ports.who,
            },
            fingerprint=fingerprint,
            reserve_per_hour=per_hour,
            admit=self._admit(per_hour),
        )
        if not new:
            same_request(record, fingerprint, target)
            settled = await self._settle(record)
            if settled is not None:
                return settled
            await journal.retry(
                options.request_id,
                provider=offer.provider,
                offer_id=offer.id,
                reserve_per_hour=per_hour,
                admit=self._admit(per_hour),
            )
        if self.events is not None:  # reserved and journaled: on its way to the provider
            await self.events.emit(
                f"{options.request_id}:{offer.id}",
                "launch_started",
                f"launching {offer.gpu_count}x {offer.gpu_model} at"
                f" {display_name(offer.provider)} (${per_hour:.3f}/h all-in)",
                **launch_json(options, offer, per_hour),
            )
        control = self.ports.providers.control(offer.provider)
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
            interruptible=pre.interruptible,
            bid_per_gpu=pre.bid_per_gpu,
            ssh_public_key=options.ssh_public_key,
            file_systems=options.file_systems,
        )
        try:
            instance = await control.launch(spec)
        except DEFINITIVE as exc:
            # nothing was created: the reservation goes with the failed entry
            await journal.update(options.request_id, "failed", error=self._clean(str(exc)))
            raise
        except Exception as exc:
            # it may have been created: look before anyone retries
            found = await self._find(offer.provider, options.request_id)
            if found is not None:
                return await self._done(
                    options.request_id, found, offer, options.label, origin=options.origin
                )
            # the reservation holds until the outcome is known
            await journal.update(options.request_id, "unknown", error=self._clean(str(exc)))
            raise LaunchInDoubt(
                f"{self._clean(str(exc))}. The launch may still have happened: gpucm will "
                f"check {display_name(offer.provider)} before trying "
                "this request again (see `gpucm instances list`)."
            ) from None
        return await self._done(
            options.request_id, instance, offer, options.label, origin=options.origin
        )

    def _admit(self, per_hour: float) -> Callable[[CommittedSpend], None]:
        """The budget check a reservation makes inside the journal's write transaction,
        on what every process has committed by then."""
        budget = self.ports.settings().budget

        def admit(committed: CommittedSpend) -> None:
            check = self._check(budget, committed, per_hour)
            if check.problems:
                raise OverBudget(
                    "not launched: "
                    + "; ".join(check.problems)
                    + f" ({committed_text(committed)}); nothing was launched"
                )

        return admit

    def _check(
        self, budget: BudgetLimits, committed: CommittedSpend, per_hour: float
    ) -> BudgetCheck:
        return check_budget(
            budget,
            committed.per_hour,
            per_hour,
            month_spent=committed.month_spent,
            month_hours_left=hours_left_in_month(self.ports.clock()),
        )

    async def launch_failing_over(
        self,
        pre: Preflight,
        options: LaunchOptions,
        choose: Callable[[str, list[Preflight]], Awaitable[Preflight]],
        *,
        target: str | None = None,
        fingerprint: str | None = None,
        max_failovers: int = MAX_FAILOVERS,
        searching: Callable[[Offer], None] | None = None,
    ) -> tuple[LaunchOutcome, Preflight]:
        """Launch `pre`; when the provider has no capacity, `choose` gets the failure and
        the equivalents (cheapest first, each re-quoted) and returns the one to try next,
        or raises to stop. One request id throughout, so at most one instance results;
        at most `max_failovers` offers after the first. `searching` is told of each
        offer that had no capacity before equivalents are looked for. Returns the
        outcome and the offer that was launched."""
        current = pre
        tried: list[str] = []
        while True:
            try:
                outcome = await self.launch(
                    current, options, target=target, fingerprint=fingerprint
                )
                return outcome, current
            except CapacityError as exc:
                failure = self._clean(str(exc))
            tried.append(current.offer.id)
            if len(tried) > max_failovers:
                raise NoCapacity(
                    f"{failure}; {len(tried)} offers in a row had no capacity; nothing was launched"
                )
            if searching is not None:
                searching(current.offer)
            # the offer the request named, when a refused preflight was replaced
            original = pre.replaces or pre.offer
            candidates = await self.failover_candidates(
                original, options, exclude=[*tried, original.id]
            )
            if not candidates:
                raise NoCapacity(
                    f"{failure}; no equivalent offer ({original.gpu_count} x "
                    f"{original.gpu_model} within the price limit) is available; "
                    "nothing was launched"
                )
            current = await choose(failure, candidates)

    async def existing(
        self, request_id: str, fingerprint: str | None = None, target: str | None = None
    ) -> LaunchOutcome | None:
        """The instance a request id already launched, looked up *before* any re-quote
        (an offer is usually gone once rented, and that must not fail a safe re-run);
        None when the request may be tried (never seen, or failed for sure). Raises
        RequestMismatch when the id was first used for another request (`fingerprint`),
        LaunchError when it launched something no longer listed or is still in doubt."""
        record = await self.store.journal.get(request_id)
        if record is None or record.state == "failed":
            return None
        same_request(record, fingerprint, target)
        if record.state == "done" and record.instance_id:
            instance = await self.store.instances.get(record.instance_id)
            if instance is None:
                raise LaunchError(
                    f"request {request_id} already launched {record.instance_id}, which is"
                    " no longer listed; use a new request id to launch again"
                )
            return LaunchOutcome(instance, record, reused=True)
        # pending or unknown, and start-up reconciliation could not settle it yet
        raise EarlierInDoubt(
            f"request {request_id} was sent to"
            f" {display_name(record.provider)} at"
            f" {record.updated_at:%H:%M:%S} UTC and its outcome is not known yet; nothing"
            " was launched again; try again in a couple of minutes"
        )

    async def _done(
        self,
        request_id: str,
        instance: Instance,
        offer: Offer | None,
        label: str | None,
        by: str | None = None,
        origin: str | None = None,
    ) -> LaunchOutcome:
        """Record a launched instance (with what the offer said where it says less, and
        the label as the user gave it) and settle its journal entry, in one write."""
        update: dict[str, Any] = {"request_id": request_id}
        by = by or self.ports.who
        if by and not instance.launched_by:
            update["launched_by"] = by
        if offer is not None:
            update["offer_id"] = instance.offer_id or offer.id
            update["price_per_hour"] = instance.price_per_hour or offer.price_per_hour
            if not instance.price_per_hour:
                # the offer's price stands in until a sync brings the provider's rate
                update["rate_reported"] = False
        if label and not instance.label:
            update["label"] = label
        if origin and not instance.origin:
            update["origin"] = origin
        instance = instance.model_copy(update=update)
        record = await self.store.journal.settle(request_id, instance)
        return LaunchOutcome(instance, record, reused=False)

    async def _settle(self, record: LaunchRecord) -> LaunchOutcome | None:
        """A request id seen before: its instance if it launched; None if it may be
        tried (it failed for sure, or never reached the provider); or LaunchInDoubt."""
        if record.state == "done" and record.instance_id:
            instance = await self.store.instances.get(record.instance_id)
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
            offer = await self.store.get_offer(record.offer_id)
            outcome = await self._done(
                record.request_id, found, offer, record.label, _launcher(record), _origin(record)
            )
            return LaunchOutcome(outcome.instance, outcome.record, reused=True)
        if self.ports.clock() - record.updated_at < SETTLE:
            raise EarlierInDoubt(
                f"request {record.request_id} was sent to {record.provider} at "
                f"{record.updated_at:%H:%M:%S} UTC and its outcome is not known yet; "
                "try again in a couple of minutes"
            )
        return None  # long enough: it never launched

    async def _find(self, provider: str, request_id: str) -> Instance | None:
        tag = request_tag(request_id)
        try:
            instances = await self.ports.providers.control(provider).list_instances()
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
        return redact(text, self.ports.settings().secrets())

    def clean(self, text: str) -> str:
        """`text` with every secret gpucm knows scrubbed out."""
        return self._clean(text)

    async def reconcile(self) -> list[LaunchRecord]:
        """Settle launches left pending or unknown (a crash, a timeout): run at start."""
        settled = []
        journal = self.store.journal
        for record in await journal.unsettled():
            if not self.ports.providers.is_active(record.provider):
                continue
            found = await self._find(record.provider, record.request_id)
            if found is not None:
                offer = await self.store.get_offer(record.offer_id)
                await self._done(
                    record.request_id,
                    found,
                    offer,
                    record.label,
                    _launcher(record),
                    _origin(record),
                )
            elif self.ports.clock() - record.updated_at >= SETTLE:
                await journal.update(
                    record.request_id,
                    "failed",
                    error="no instance appeared at the provider; the launch did not happen",
                )
            else:
                continue
            updated = await journal.get(record.request_id)
            if updated is not None:
                settled.append(updated)
        return settled


def _launcher(record: LaunchRecord) -> str | None:
    """Who sent a journaled launch (user@host), when it says."""
    by = record.request.get("by")
    return by if isinstance(by, str) and by else None


def _origin(record: LaunchRecord) -> str | None:
    """What launched a journaled request when not a person (`watch NAME`)."""
    origin = record.request.get("origin")
    return origin if isinstance(origin, str) and origin else None


def failover_ceiling(failed: Offer, options: LaunchOptions) -> float:
    """The most an automatic failover pays: the user's maximum, or without one a
    little more than the offer that had no capacity (for an interruptible launch, than
    its interruptible price at the bid asked, or its spot price)."""
    if options.max_price_per_hour:
        return options.max_price_per_hour
    price = failed.price_per_hour
    if options.interruptible:
        if options.bid_per_gpu is not None:
            price = interruptible_price(failed, options.bid_per_gpu)
        elif failed.spot_price_per_hour is not None:
            price = failed.spot_price_per_hour
    return price * AUTO_FAILOVER_HEADROOM


def committed_text(committed: CommittedSpend) -> str:
    """What the budget already holds, in words."""
    parts = [f"${committed.running_per_hour:,.2f}/h running or starting"]
    if committed.in_flight:
        noun = "launch" if committed.in_flight == 1 else "launches"
        parts.append(
            f"${committed.in_flight_per_hour:,.2f}/h for {committed.in_flight} {noun} on the way"
        )
    return " and ".join(parts) + " already"
