"""The demo market's instances: a simulated lifecycle, persisted in the store.

Status is a function of the clock: a launch provisions for PROVISION_SECONDS and then
runs; start and restart provision again; stop and terminate take effect at once. The
provider's real limits hold (Lambda cannot stop, only Vast and RunPod rent interruptible
machines), and about one launch in seven fails for capacity, deterministically by
offer, so failover can be seen. Nothing here costs money or reaches the network.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from gpucm.domain.models import Instance, InstanceStatus, Offer
from gpucm.domain.provider_names import display_name
from gpucm.providers.base import LaunchSpec
from gpucm.providers.errors import CapacityError, NotFound, Unsupported

if TYPE_CHECKING:
    from gpucm.domain.clock import Clock

T = TypeVar("T")
Records = dict[str, dict[str, Any]]


class DemoState(Protocol):
    """Where the simulation keeps its state: the store, so every command sees one market.
    JSON values by key; `update` changes one in a single transaction, so processes
    sharing the store never lose each other's changes."""

    async def load(self, key: str) -> Any: ...

    async def update(self, key: str, change: Callable[[Any], tuple[Any, T]]) -> T: ...


PROVISION_SECONDS = 20.0
# A stopped demo machine bills its disk as RunPod, Vast and Paperspace do: 100 GB at
# $0.10/GB-month (an estimate, like every demo figure)
STOPPED_PER_HOUR = 100 * 0.10 / 730
RESTART_SECONDS = 10.0
_KEY = "instances:{provider}"


def fails_for_capacity(offer_id: str) -> bool:
    """About one offer in seven is "out of capacity" at launch, always the same ones."""
    return hashlib.blake2b(offer_id.encode(), digest_size=2).digest()[0] % 7 == 0


class DemoInstances:
    """Mixed into DemoProvider, which supplies these attributes."""

    _name: str
    _state: DemoState
    _clock: Clock

    async def quote(self, offer: Offer) -> Offer | None:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- persistence ----------------------------------------------------------------

    async def _records(self) -> Records:
        data = await self._state.load(_KEY.format(provider=self._name))
        return dict(data or {})

    async def _change(self, change: Callable[[Records], T]) -> T:
        """Change the records in one store transaction: two processes launching or
        stopping at once never lose each other's machines."""

        def apply(value: Any) -> tuple[Records, T]:
            records: Records = dict(value or {})
            return records, change(records)

        return await self._state.update(_KEY.format(provider=self._name), apply)

    def _status(self, rec: dict[str, Any], now: datetime) -> tuple[InstanceStatus, str]:
        state = rec["state"]
        if state in ("running", "provisioning"):
            ready = datetime.fromisoformat(rec["ready_at"])
            return ("running", "running") if now >= ready else ("provisioning", "booting")
        if state == "stopped":
            return "stopped", "exited"
        return "terminated", "terminated"

    def _instance(self, pid: str, rec: dict[str, Any], now: datetime) -> Instance:
        status, raw = self._status(rec, now)
        # billing runs from the boot (launch or start), so a provisioning machine's
        # clock starts there, not at its first creation
        key = "booted_at" if status == "provisioning" else "started_at"
        started = datetime.fromisoformat(rec[key]) if rec.get(key) else None
        return Instance(
            id=f"{self._name}:{pid}",
            provider=self._name,
            provider_id=pid,
            name=rec["name"],
            status=status,
            raw_status=raw,
            gpu_model=rec["gpu_model"],
            gpu_name=rec["gpu_model"],
            gpu_count=rec["gpu_count"],
            price_per_hour=rec["price_per_hour"],
            region=rec.get("region"),
            image=rec.get("image"),
            ssh_host=f"{pid}.demo.invalid" if status == "running" else None,
            ssh_port=22 if status == "running" else None,
            ssh_user="root",
            offer_id=rec.get("offer_id"),
            created_at=datetime.fromisoformat(rec["created_at"]),
            started_at=started if status in ("running", "provisioning") else None,
            interruptible=bool(rec.get("interruptible")),
            stopped_per_hour=STOPPED_PER_HOUR if self._stops() else None,
            provider_data={"demo": True},
        )

    def _live(self, records: Records, provider_id: str) -> dict[str, Any]:
        rec = records.get(provider_id)
        if rec is None or rec["state"] == "terminated":
            raise NotFound(self._name, f"no instance {provider_id} (demo)")
        return rec

    def _stops(self) -> bool:
        from gpucm.providers.registry import PROVIDER_META

        return PROVIDER_META[self._name].capabilities.stop_start

    @property
    def _shown(self) -> str:
        return display_name(self._name)

    def _capability(self, attr: str, sentence: str) -> None:
        from gpucm.providers.registry import PROVIDER_META

        if not getattr(PROVIDER_META[self._name].capabilities, attr):
            raise Unsupported(self._name, sentence)

    # -- InstanceControl ------------------------------------------------------------

    async def list_instances(self) -> list[Instance]:
        now = self._clock()
        return [
            self._instance(pid, rec, now)
            for pid, rec in (await self._records()).items()
            if rec["state"] != "terminated"
        ]

    async def launch(self, spec: LaunchSpec) -> Instance:
        offer = spec.offer
        price: float | None = None
        if spec.interruptible:
            self._capability("spot", f"{self._shown} rents no interruptible machines (demo)")
            price = round(spec.bid(self._name) * offer.gpu_count, 6)
        if spec.file_systems:
            self._capability("file_systems", f"{self._shown} has no shared filesystems (demo)")
        current = await self.quote(offer)
        if current is None or fails_for_capacity(offer.id):
            raise CapacityError(
                self._name,
                "there are no longer any instances available with the requested "
                "specifications (demo)",
            )
        now = self._clock()
        pid = "d" + hashlib.blake2b(spec.request_id.encode(), digest_size=5).hexdigest()
        record = {
            "name": spec.label,
            "state": "provisioning",
            "created_at": now.isoformat(),
            "booted_at": now.isoformat(),
            "started_at": (now + timedelta(seconds=PROVISION_SECONDS)).isoformat(),
            "ready_at": (now + timedelta(seconds=PROVISION_SECONDS)).isoformat(),
            "gpu_model": offer.gpu_model,
            "gpu_count": offer.gpu_count,
            "price_per_hour": current.price_per_hour if price is None else price,
            "region": offer.region,
            "image": spec.image,
            "offer_id": offer.id,
            "interruptible": spec.interruptible,
        }

        def add(records: Records) -> None:
            records[pid] = record

        await self._change(add)
        return self._instance(pid, record, now)

    async def stop(self, provider_id: str) -> None:
        self._capability("stop_start", f"{self._shown} cannot stop an instance; terminate it")

        def stop(records: Records) -> None:
            self._live(records, provider_id)["state"] = "stopped"

        await self._change(stop)

    async def start(self, provider_id: str) -> None:
        self._capability("stop_start", f"{self._shown} cannot start a stopped instance")
        await self._change(
            lambda records: self._boot(self._live(records, provider_id), RESTART_SECONDS)
        )

    async def restart(self, provider_id: str) -> None:
        self._capability("restart", f"{self._shown} has no restart; stop then start instead")
        await self._change(
            lambda records: self._boot(self._live(records, provider_id), RESTART_SECONDS)
        )

    async def terminate(self, provider_id: str) -> None:
        def terminate(records: Records) -> None:
            self._live(records, provider_id)["state"] = "terminated"

        await self._change(terminate)

    async def logs(self, provider_id: str) -> str:
        self._capability("logs", f"{self._shown}'s API has no logs; connect over SSH")
        rec = self._live(await self._records(), provider_id)
        return f"[demo] {rec['name']}: booted image {rec.get('image') or 'default'}\n"

    def _boot(self, rec: dict[str, Any], seconds: float) -> None:
        now = self._clock()
        rec["state"] = "provisioning"
        rec["booted_at"] = now.isoformat()
        rec["ready_at"] = (now + timedelta(seconds=seconds)).isoformat()
        rec["started_at"] = rec["ready_at"]
