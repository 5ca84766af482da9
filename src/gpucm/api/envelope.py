"""The original API's envelope: `{"success": true, "message": ..., "data": ...}`, and
`{"success": false, "error": ...}` (with `details` for a body that did not validate).

Responses are rendered here, once, with every known secret scrubbed from the text:
the last guard that no key or launch environment value leaves the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_json
from starlette.responses import Response

from gpucm.providers.errors import redact

T = TypeVar("T")

JSON = "application/json"


class Envelope(BaseModel, Generic[T]):
    model_config = ConfigDict(defer_build=True)

    success: Literal[True] = True
    message: str
    data: T


class FieldError(BaseModel):
    field: str
    message: str


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: str
    details: list[FieldError] | None = None


def scrub(text: str, secrets: Iterable[str]) -> str:
    # longest first, so a secret containing a shorter one is replaced whole
    ordered: list[str] = sorted(set(secrets), key=len, reverse=True)
    return redact(text, ordered)


def render(
    body: Mapping[str, Any],
    *,
    status: int,
    secrets: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    text = to_json(body).decode()
    return Response(
        scrub(text, secrets).encode(), status_code=status, headers=headers, media_type=JSON
    )


def ok(
    data: Any,
    message: str,
    *,
    status: int = 200,
    secrets: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    return render(
        {"success": True, "message": message, "data": data},
        status=status,
        secrets=secrets,
        headers=headers,
    )


def failure(
    error: str,
    *,
    status: int,
    secrets: Iterable[str] = (),
    details: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"success": False, "error": error}
    if details:
        body["details"] = [d.model_dump() for d in details]
    return render(body, status=status, secrets=secrets, headers=headers)
