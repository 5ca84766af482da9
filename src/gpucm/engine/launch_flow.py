"""The one launch flow: every front end (CLI, API, TUI) launches through `LaunchFlow.run`
and keeps only its input and output.

    reconcile -> existing request -> the offer -> preflight (re-quote)
      -> confirm (or, when the offer is gone or over the maximum: choose an equivalent)
      -> budget reservation + journal (one write transaction) -> launch
      -> on no capacity: failover to an equivalent, at most MAX_FAILOVERS in a row

`run(target, options, confirm=..., choose=..., progress=...)`:

- `target` (`LaunchTarget`): the offer as the request names it — `LaunchTarget.of(offer)`
  (the TUI's highlighted offer), `LaunchTarget.by_id(id, provider)` (CLI `--offer`, the
  API body), `LaunchTarget.cheapest(query)` (CLI filters).
- `options` (`LaunchOptions`): what to run, with the request id. The request's
  fingerprint is a hash of `target` and `options`: the same request id with another
  request is refused (`RequestMismatch`) while its first request stands.
- `confirm(preflight) -> bool`, awaited once, with a launchable preflight (the offer as
  re-quoted, the all-in price, what is ignored, warnings): the CLI prints it and asks
  (or takes `--yes`), the API's POST is its own confirmation (returns True), the TUI
  shows its confirmation screen and returns when Launch (True) or Back (False) is
  pressed; it may mark itself "launching" just before returning True, since the
  reservation and the provider call follow at once. False raises `Declined`.
  A preflight that cannot launch (gone, over the maximum or the budget, too small)
  never reaches `confirm`: `LaunchRefused` carries it, for a screen that shows why.
- `choose(failure, candidates) -> Preflight | None`: the failure (one line) and
  equivalent offers (same GPU model and count, within the maximum, all-in, from any
  provider), cheapest first, each re-quoted. Return the one to launch instead (one
  request id throughout: never two machines), or None to stop. Awaited in two places:
  - before any confirmation, when the preflight finds the offer gone or repriced over
    the maximum (no dead end). `confirm` is not called then: the choice *is* the
    consent, so a front end shows it as its confirmation (the price, all-in). None
    raises `LaunchRefused` with the original preflight. Without equivalents, or without
    `choose`, `LaunchRefused` at once (`equivalents_checked` says whether any were
    looked for);
  - after the confirmation, when the provider has no capacity. None raises
    `NoCapacity`; without `choose`, the first capacity failure stops the flow.
- `progress(line)`: optional, told what the flow is doing ("Re-quoting...",
  "Launching at RunPod...", "No capacity at Vast.ai: looking for ...").

It returns a `LaunchOutcome` (the instance; `reused` when the request id had launched
it before; `preflight`, what was launched at what price, None when reused). Every
refusal is a `LaunchError` whose message is one line a person can act on. A request
the offer's provider cannot do at all and that cannot be ignored (interruptible at a
provider without spot, filesystems where there are none) is `NotHonoured`, before
any re-quote: bad input, as the front ends say it (CLI exit 2, API 422).

The budget holds across processes: the reservation is taken in the journal's write
transaction (see store/instance_tables.py), so a preflight that passed can still end
in `OverBudget` when other launches took the budget meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gpucm.domain.models import Offer, SearchQuery
from gpucm.domain.provider_names import display_name
from gpucm.engine.capabilities import not_honoured
from gpucm.engine.events import EventKind, Events, launch_json
from gpucm.engine.launch_errors import (
    LaunchError,
    LaunchInDoubt,
    NoCapacity,
    OverBudget,
    RequestMismatch,
)
from gpucm.engine.launch_options import LaunchOptions, offer_target, request_fingerprint
from gpucm.engine.launcher import MAX_FAILOVERS, Launcher, LaunchOutcome, Preflight
from gpucm.engine.ports import EnginePorts

Confirm = Callable[[Preflight], Awaitable[bool]]
Choose = Callable[[str, list[Preflight]], Awaitable[Preflight | None]]
Progress = Callable[[str], None]


class OfferNotFound(LaunchError):
    """The offer the request names is not in the store (gone, or never listed)."""


class NoMatch(LaunchError):
    """No available offer matches the request's search."""


class WrongProvider(LaunchError):
    """The request names an offer at one provider and a different provider."""


class NotHonoured(LaunchError):
    """The request asks what the offer's provider cannot do and what cannot be ignored
    (interruptible at a provider that rents no spot machines)."""


class LaunchRefused(LaunchError):
    """The re-quoted offer cannot be launched as asked; `preflight` says why.
    `equivalents_checked`: equivalents were looked for and none would do."""

    def __init__(self, preflight: Preflight, *, equivalents_checked: bool = False) -> None:
        message = preflight.refusal()
        if equivalents_checked:
            o = preflight.offer
            message = message.removesuffix("; nothing was launched") + (
                f"; no equivalent offer ({o.gpu_count} x {o.gpu_model} within the price "
                "limit) is available either; nothing was launched"
            )
        super().__init__(message)
        self.preflight = preflight
        self.equivalents_checked = equivalents_checked


class Declined(LaunchError):
    """The confirmation said no: nothing was launched."""


@dataclass(frozen=True)
class LaunchTarget:
    """The offer a request is for, as the request names it."""

    offer: Offer | None = None
    offer_id: str | None = None
    provider: str | None = None
    query: SearchQuery | None = None

    @classmethod
    def of(cls, offer: Offer) -> LaunchTarget:
        return cls(offer=offer)

    @classmethod
    def by_id(cls, offer_id: str, provider: str | None = None) -> LaunchTarget:
        """gpucm's id (`vast_ai:123`), or the provider's own id with the provider."""
        return cls(offer_id=offer_id, provider=provider)

    @classmethod
    def cheapest(cls, query: SearchQuery) -> LaunchTarget:
        """The cheapest available offer the search matches at launch time."""
        return cls(query=query)

    def describe(self) -> str:
        """The target in one way of writing it, for the request's fingerprint and for
        messages: an offer id, or the search."""
        if self.offer is not None:
            return offer_target(self.offer.id)
        if self.offer_id is not None:
            return offer_target(self.offer_id, self.provider)
        query = self.query or SearchQuery()
        return "the cheapest offer matching " + query.model_dump_json(exclude_defaults=True)


class LaunchFlow:
    def __init__(self, ports: EnginePorts, *, max_failovers: int = MAX_FAILOVERS) -> None:
        self.launcher = Launcher(ports)
        self.max_failovers = max_failovers
        # events out (engine/events.py): launch started, failed, budget warning/refused
        self.events = Events(ports.events, ports.clock) if ports.events is not None else None

    async def run(
        self,
        target: LaunchTarget,
        options: LaunchOptions,
        *,
        confirm: Confirm,
        choose: Choose | None = None,
        progress: Progress | None = None,
    ) -> LaunchOutcome:
        """Launch `target` with `options`, at most once per request id (module doc)."""
        say = progress or _silent
        launcher = self.launcher
        await launcher.reconcile()
        described = target.describe()
        fingerprint = request_fingerprint(described, options)
        previous = await launcher.existing(options.request_id, fingerprint, described)
        if previous is not None:
            return previous
        offer = await self.offer(target, interruptible=options.interruptible)
        refused = not_honoured(offer.provider, options)
        if refused:
            raise NotHonoured(f"not launched ({offer.id}): {'; '.join(refused)}")
        say(f"Re-quoting the offer at {display_name(offer.provider)}…")
        pre = await launcher.preflight(offer, options)
        events = self.events
        if not pre.ok:
            if pre.budget_problems and events is not None:
                await events.emit(
                    options.request_id,
                    "budget_refused",
                    pre.refusal(),
                    **_about(options, pre),
                )
            pre = await self._instead_of_refused(pre, options, choose, say)
        elif not await confirm(pre):
            raise Declined("cancelled: nothing was launched")
        if pre.budget_warnings and events is not None:
            await events.emit(
                options.request_id,
                "budget_warning",
                "; ".join(pre.budget_warnings),
                **_about(options, pre),
            )

        async def instead(failure: str, candidates: list[Preflight]) -> Preflight:
            if choose is None:
                raise NoCapacity(f"{failure}; nothing was launched")
            chosen = await choose(failure, candidates)
            if chosen is None:
                raise NoCapacity(f"{failure}; cancelled: nothing was launched")
            say(f"Launching at {display_name(chosen.offer.provider)} instead…")
            return chosen

        say(f"Launching at {display_name(pre.offer.provider)}…")
        try:
            outcome, launched = await launcher.launch_failing_over(
                pre,
                options,
                instead,
                target=described,
                fingerprint=fingerprint,
                max_failovers=self.max_failovers,
                searching=lambda failed: say(
                    f"No capacity at {display_name(failed.provider)}: looking for "
                    f"{failed.gpu_count} x {failed.gpu_model} elsewhere…"
                ),
            )
        except (LaunchInDoubt, RequestMismatch):
            raise  # not failed: in doubt (gpucm looks before a retry), or not this request
        except Exception as exc:
            if events is not None:
                kind: EventKind = (
                    "budget_refused" if isinstance(exc, OverBudget) else ("launch_failed")
                )
                await events.emit(
                    f"{options.request_id}:{pre.offer.id}",
                    kind,
                    launcher.clean(str(exc)) or type(exc).__name__,
                    **_about(options, pre),
                )
            raise
        return LaunchOutcome(outcome.instance, outcome.record, outcome.reused, launched)

    async def _instead_of_refused(
        self, pre: Preflight, options: LaunchOptions, choose: Choose | None, say: Progress
    ) -> Preflight:
        """A preflight refused for the offer (gone, or over the maximum): the equivalent
        `choose` takes instead, which is its consent; else LaunchRefused."""
        if choose is None or not pre.replaceable:
            raise LaunchRefused(pre)
        failed = pre.offer
        say(f"Looking for {failed.gpu_count} x {failed.gpu_model} elsewhere…")
        why = "which is gone" if pre.vanished else "which is over your maximum"
        candidates = await self.launcher.failover_candidates(pre.listed, options, why=why)
        if not candidates:
            raise LaunchRefused(pre, equivalents_checked=True)
        failure = f"{failed.gpu_count} x {failed.gpu_model} ({failed.id}): " + "; ".join(
            pre.problems
        )
        chosen = await choose(failure, candidates)
        if chosen is None:
            raise LaunchRefused(pre)
        return chosen

    async def offer(self, target: LaunchTarget, *, interruptible: bool = False) -> Offer:
        """The offer the target names, as the store has it now (for a search, the
        cheapest match: by its interruptible price for an interruptible launch)."""
        if target.offer is not None:
            return target.offer
        if target.query is not None:
            try:
                return await self.launcher.cheapest(target.query, interruptible=interruptible)
            except LaunchError:
                raise NoMatch(
                    "no available offer matches; loosen a filter (see `gpucm offers`)"
                ) from None
        assert target.offer_id is not None
        try:
            offer = await self.launcher.resolve_offer(target.offer_id, target.provider)
        except LaunchError as exc:
            raise OfferNotFound(str(exc)) from None
        if target.provider and offer.provider != target.provider:
            raise WrongProvider(f"offer {offer.id} is at {offer.provider}, not {target.provider}")
        return offer


def _silent(line: str) -> None:
    pass


def _about(options: LaunchOptions, pre: Preflight) -> dict[str, Any]:
    return launch_json(options, pre.offer, pre.cost.per_hour)
