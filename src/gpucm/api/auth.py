"""The API token: when GPUCM_API_TOKEN is set, every request but /healthz must carry it
(`Authorization: Bearer <token>` or `X-API-Key: <token>`).

Compared in constant time over digests of equal length, so neither the token's
characters nor its length can be learnt from response times.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gpucm.api.api_settings import token_matches
from gpucm.api.envelope import failure

OPEN_PATHS = frozenset({"/healthz"})


def presented_token(headers: Headers) -> str | None:
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


class TokenAuth:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = presented_token(Headers(scope=scope))
        if given is None:
            message = "missing API token: send Authorization: Bearer <GPUCM_API_TOKEN>"
        elif not token_matches(given, self._token):
            message = "invalid API token"
        else:
            await self.app(scope, receive, send)
            return
        response = failure(
            message,
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="gpucm"'},
            secrets=[self._token, given or ""],
        )
        await response(scope, receive, send)
