"""Why a launch did not happen (or may have): each a sentence a person can act on."""

from __future__ import annotations

from gpucm.domain.models import LaunchRecord
from gpucm.engine.launch_options import offer_target


class LaunchError(Exception):
    """A launch gpucm will not make, with the reason a person can act on."""


class NoCapacity(LaunchError):
    """Nothing was launched: the offer had no capacity and no equivalent was taken."""


class LaunchInDoubt(LaunchError):
    """The provider may have created the instance; nothing is retried until it is known."""


class EarlierInDoubt(LaunchInDoubt):
    """An earlier launch with this request id may have created the instance and it is
    not known yet: this request launches nothing until it is."""


class OverBudget(LaunchError):
    """Refused when the launch asked for its budget: what runs and what other launches
    hold already would leave too little. Nothing was launched."""


class RequestMismatch(LaunchError):
    """The request id was first used for another request: almost always a client bug
    (a key reused by mistake), so it is refused rather than answered with the first
    request's instance."""

    def __init__(self, request_id: str, first: str, message: str) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.first = first  # what the first request was for (its offer)


def first_request(record: LaunchRecord) -> str:
    """What a journaled request was for, in a message: its offer as first asked."""
    target = record.request.get("target")
    return str(target) if target else offer_target(record.offer_id)


def same_request(record: LaunchRecord, fingerprint: str | None, target: str | None) -> None:
    """Refuse a request id reused for another request while its first request stands
    (done, on its way or in doubt). A request that failed for sure created nothing, so
    its id may be tried again with changes (a launch form edited after a refusal)."""
    if record.state == "failed" or not fingerprint or not record.fingerprint:
        return
    if record.fingerprint == fingerprint:
        return
    first = first_request(record)
    differs = f" ({target})" if target and target != first else ""
    raise RequestMismatch(
        record.request_id,
        first,
        f"request id {record.request_id} was first used for {first}; this request asks "
        f"for something else{differs}. A request id names one request: use a new one to "
        "launch this",
    )
