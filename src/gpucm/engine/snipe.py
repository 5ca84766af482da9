"""Snipes: a watch armed with a launch action launches the best match, once.

After a refresh, each armed watch whose search matches (within its max $/h, and the
watch's own price and count conditions) launches through the one launch flow: the
offer is re-quoted, the launch journaled and held against the budget, and a capacity
failure fails over to an equivalent within the max $/h. The arming was the
confirmation (it showed the max $/h and said it launches without asking), so the flow's
confirmation here only checks that the re-quote stays inside it, which the preflight
already refuses otherwise.

The armed watches are the store's (engine/armings.py), every owner's: the process
that fires them (in a team only the elected refresher, so a team snipes once) fires
each, whoever armed it, launching with its own provider keys and its own environment
for the template's env names. Each machine's request id is derived from the owner,
the watch and the moment it was armed, so a restart, a second `gpucm watch --once` or
another process firing the same arming finds the journal's entry and launches nothing
more: it reports the machine that entry launched (or that another process is
launching it). Before each launch the arming is read again from the store: one
disarmed meanwhile (by its owner, anywhere) launches nothing. When every machine of
the arming is launched, the sniper disarms it in the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gpucm.domain.models import Instance, Offer
from gpucm.domain.provider_names import display_name
from gpucm.engine.alert_delivery import DeliveryResult, clean_env, post_json, run_command_with
from gpucm.engine.armings import ArmedWatchStore, ArmingError, owner_of, watch_of
from gpucm.engine.launch_errors import LaunchError, LaunchInDoubt, RequestMismatch
from gpucm.engine.launch_flow import LaunchFlow, LaunchRefused, LaunchTarget
from gpucm.engine.launch_options import LaunchOptions
from gpucm.engine.launcher import MAX_FAILOVERS, Preflight
from gpucm.engine.ports import OfferReader
from gpucm.launch_template import LaunchTemplate, TemplateError
from gpucm.presets import Watch
from gpucm.store.results import ArmedWatch

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


class _OfferRefused(LaunchError):
    """This offer cannot be launched as armed (gone, over the max all-in): the next
    best match may."""


class SnipeError(LaunchError):
    """A snipe that cannot launch as armed (a missing env value, spot not supported)."""


def snipe_request_id(owner: str, watch: str, armed: str, n: int) -> str:
    """The request id of machine `n` of one arming: the same in every process."""
    digest = hashlib.sha256(f"{owner}\0{watch}\0{armed}".encode()).hexdigest()[:16]
    return f"watch-{watch}-{digest}-{n}"


def origin_of(watch: str) -> str:
    return f"watch {watch}"


def origin_label(watch: str) -> str:
    """The label a snipe's machine gets: `gpucm instances list` shows it in the name."""
    return f"watch-{watch}"


@dataclass(frozen=True)
class SnipeResult:
    """What an armed watch did when it matched."""

    watch: str
    fired: bool  # every machine of the arming is launched (now or before): disarmed
    message: str
    instances: tuple[Instance, ...] = ()
    failed: tuple[str, ...] = ()  # one line per machine that did not launch
    reused: bool = False  # the machines were launched before (another process, a restart)
    owner: str = ""  # whose watch (the OS user who armed it)

    def as_json(self) -> dict[str, Any]:
        return {
            "watch": self.watch,
            "owner": self.owner,
            "kind": "launch",
            "fired": self.fired,
            "reused": self.reused,
            "message": self.message,
            "instances": [
                {
                    "id": i.id,
                    "provider": i.provider,
                    "gpu_model": i.gpu_model,
                    "gpu_count": i.gpu_count,
                    "price_per_hour": i.price_per_hour,
                    "status": i.status,
                    "request_id": i.request_id,
                    "origin": origin_of(self.watch),
                }
                for i in self.instances
            ],
            "failed": list(self.failed),
        }


def options_for(
    watch: Watch,
    template: LaunchTemplate,
    request_id: str,
    env: Mapping[str, str],
    *,
    whose: str = "",
) -> LaunchOptions:
    """`whose`: said after a missing env value when the environment is not the
    owner's own (the team's refresher firing another member's watch)."""
    rental: dict[str, Any] = {}
    if template.interruptible:
        fields = {f.name for f in dataclasses.fields(LaunchOptions)}
        if "interruptible" not in fields:
            raise SnipeError(
                "interruptible launches are not supported by this gpucm; nothing was launched"
            )
        rental = {"interruptible": True, "bid_per_gpu": template.bid_per_gpu}
    try:
        environment = template.environment(env)
    except TemplateError as exc:
        # the result's message names the watch: this line is one machine's failure
        raise SnipeError(f"{exc}{whose}") from None
    return LaunchOptions(
        request_id=request_id,
        label=origin_label(watch.name),
        image=template.image,
        environment=environment,
        ports=template.ports,
        disk_gb=template.disk_gb,
        ssh_key_name=template.ssh_key,
        max_price_per_hour=template.max_price_per_hour,
        origin=origin_of(watch.name),
        **rental,
    )


class Sniper:
    """Fires the store's armed watches, every owner's. `who`: this process (user@host),
    who disarms a fired watch; `env`: where the templates' env names get their values
    (this process's environment, never the store's)."""

    def __init__(
        self,
        flow: LaunchFlow,
        store: OfferReader,
        *,
        armings: ArmedWatchStore,
        who: str,
        env: Mapping[str, str],
    ) -> None:
        self.flow = flow
        self.store = store
        self.armings = armings
        self.who = who
        self.env = env

    async def matches(self, watch: Watch, wanted: int) -> list[Offer]:
        """The best matches now, cheapest first: the watch's search within its max
        $/h and its price condition, at least `min_offers` of them if it says so."""
        assert watch.launch is not None
        query = watch.query()
        caps = [watch.launch.max_price_per_hour]
        if query.max_price is not None:
            caps.append(query.max_price)
        if watch.price_at_or_under is not None:
            caps.append(watch.price_at_or_under)
        page = await self.store.search(
            query.model_copy(
                update={
                    "max_price": min(caps),
                    "available": True,
                    "sort_by": "price",
                    "sort_order": "asc",
                    "limit": max(wanted, watch.min_offers or 0),
                    "offset": 0,
                }
            ),
            with_total=False,
        )
        offers = list(page.offers)
        if watch.min_offers is not None and len(offers) < watch.min_offers:
            return []
        return offers

    async def fire_all(self) -> list[SnipeResult]:
        """Fire every armed watch in the store, oldest arming first."""
        results = []
        for row in await self.armings.list(armed_only=True):
            result = await self.fire(row)
            if result is not None:
                results.append(result)
        return results

    async def fire(self, row: ArmedWatch) -> SnipeResult | None:
        """Launch the best match of an armed watch; None when nothing matches (or the
        arming is being launched by another process right now, or was disarmed)."""
        try:
            watch = watch_of(row)
        except ArmingError as exc:  # written by another gpucm: never launched blind
            log.warning("not fired: %s", exc)
            return None
        template = watch.launch
        assert template is not None and template.armed is not None
        owner = row.owner
        ids = [
            snipe_request_id(owner, watch.name, template.armed, n) for n in range(template.count)
        ]
        done: set[int] = set()
        machines: list[Instance] = []
        reused = True
        for n, rid in enumerate(ids):
            try:
                previous = await self.flow.launcher.existing(rid)
            except LaunchInDoubt:
                log.info("%s: request %s is being launched elsewhere", watch.name, rid)
                return None
            except LaunchError as exc:  # it launched, and that machine is gone since
                log.info("%s: %s", watch.name, exc)
                done.add(n)
                continue
            if previous is not None:
                done.add(n)
                machines.append(previous.instance)
        todo = [n for n in range(len(ids)) if n not in done]
        failed: list[str] = []
        gone = False  # disarmed by another process while this one launched
        if todo:
            offers = await self.matches(watch, template.count + MAX_FAILOVERS)
            if not offers:
                return None
            reused = False
            pool = iter(offers)  # cheapest first; each offer launched at most once
            for n in todo:
                if not await self.armings.is_armed(owner, watch.name, template.armed):
                    # disarmed (or armed again) by another process meanwhile
                    log.info("%s: disarmed meanwhile; not launched", watch.name)
                    if not machines:
                        return None
                    failed.append("disarmed elsewhere meanwhile")
                    gone = True
                    break
                said = "no other offer matches now"
                for offer in pool:
                    try:
                        machines.append(await self._launch(watch, template, ids[n], offer, owner))
                        done.add(n)
                        break
                    except _OfferRefused as exc:  # gone, or over the max all-in: the next
                        said = str(exc)
                    except RequestMismatch:
                        # another process journaled this machine with another offer: it
                        # is that process's launch, never a second one
                        said = f"machine {n + 1} is being launched by another gpucm"
                        break
                    except LaunchError as exc:  # the budget, no capacity, in doubt
                        said = str(exc)
                        break
                    except Exception as exc:  # the provider refused (a key, a request)
                        said = self.flow.launcher.clean(str(exc)) or type(exc).__name__
                        break
                if n not in done:
                    failed.append(said)
        fired = len(done) == len(ids)
        if fired:
            try:
                await self.armings.disarm(
                    owner, watch.name, by=self.who, reason="launched", was=template.armed
                )
            except Exception as exc:  # the journal still guards: it never launches twice
                log.warning("%s: could not disarm in the store: %s", watch.name, exc)
        mine = owner == owner_of(self.who)
        return SnipeResult(
            watch.name,
            fired,
            _message(
                watch,
                machines,
                failed,
                disarmed=fired or gone,
                reused=reused,
                owner=None if mine else owner,
            ),
            tuple(machines),
            tuple(failed),
            reused,
            owner,
        )

    async def _launch(
        self, watch: Watch, template: LaunchTemplate, request_id: str, offer: Offer, owner: str
    ) -> Instance:
        whose = (
            ""
            if owner == owner_of(self.who)
            else f" ({self.who} fires the team's armed watches: set it there)"
        )
        options = options_for(watch, template, request_id, self.env, whose=whose)

        async def confirm(pre: Preflight) -> bool:
            # the arming confirmed it; the preflight has refused anything over the max
            return pre.cost.per_hour <= template.max_price_per_hour

        async def choose(failure: str, candidates: list[Preflight]) -> Preflight | None:
            inside = [c for c in candidates if c.cost.per_hour <= template.max_price_per_hour]
            return inside[0] if inside else None

        try:
            outcome = await self.flow.run(
                LaunchTarget.of(offer), options, confirm=confirm, choose=choose
            )
        except LaunchRefused as exc:
            if exc.preflight.budget_problems:
                raise LaunchError(exc.preflight.refusal()) from None
            raise _OfferRefused(exc.preflight.refusal()) from None
        return outcome.instance


def _message(
    watch: Watch,
    machines: list[Instance],
    failed: list[str],
    *,
    disarmed: bool,
    reused: bool,
    owner: str | None = None,
) -> str:
    said = []
    for i in machines:
        what = f"{i.gpu_count or 1}x {i.gpu_model or i.gpu_name or 'GPU'}"
        price = f" ${i.price_per_hour:.3f}/h" if i.price_per_hour else ""
        said.append(f"{i.id} ({what} at {display_name(i.provider)}{price})")
    head = f"{watch.name}: " if owner is None else f"{owner}'s {watch.name}: "
    if machines:
        head += ("launched before: " if reused else "launched ") + ", ".join(said)
    if failed:
        # each machine of a snipe fails for its own reason, often the same one: said once
        reasons: dict[str, int] = {}
        for reason in failed:
            reasons[reason] = reasons.get(reason, 0) + 1
        told = [f"{n} machines: {r}" if n > 1 else r for r, n in reasons.items()]
        head += ("; " if machines else "") + "not launched: " + "; ".join(told)
    head += "; disarmed" if disarmed else "; still armed"
    return head


async def deliver_snipe(
    snipe: SnipeResult,
    *,
    command: str | None,
    webhook_url: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[DeliveryResult]:
    """What an armed watch did, to the same hooks as its alerts (kind `launch`)."""
    data = snipe.as_json()
    results = []
    if command:
        env = clean_env(os.environ)
        env.update(
            GPUCM_ALERT_WATCH=snipe.watch,
            GPUCM_ALERT_KIND="launch",
            GPUCM_ALERT_MESSAGE=snipe.message,
        )
        if snipe.instances:
            env["GPUCM_ALERT_INSTANCE_ID"] = snipe.instances[0].id
        results.append(await run_command_with(command, data, env))
    if webhook_url:
        results.append(await post_json(webhook_url, data, snipe.message, transport=transport))
    return results
