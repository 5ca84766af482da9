"""Request bodies: one over GPUCM_MAX_BODY_BYTES gets 413 before any route reads it,
whether it declares its length or streams in chunks; JSON holding a lone surrogate
(`"\\ud800"`), which no text can be, gets 422 (it failed deep inside a route, as a 500
that closed the connection)."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gpucm.api.envelope import FieldError, failure
from gpucm.input_checks import json_text_problem

# a \uD800-\uDFFF escape: only then is the body decoded here to look closer (a pair of
# them is one character, and fine)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_bytes
            except ValueError:
                await self._refuse(scope, receive, send, 400, "invalid Content-Length")
                return
            if too_big:
                await self._too_large(scope, receive, send)
                return
        # Read the whole (bounded) body first, then replay it: a route never sees a
        # body that turns out too large halfway through.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body"))
        body = b"".join(chunks)
        problem = _text_problem(body)
        if problem is not None:
            # 422 like any other invalid field; the connection stays open
            field, _, why = problem.partition(": ")
            await failure(
                f"invalid request: {problem}",
                status=422,
                details=[FieldError(field=field, message=why)],
            )(scope, receive, send)
            return
        replay = _replay([{"type": "http.request", "body": body, "more_body": False}], receive)
        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._refuse(
            scope,
            receive,
            send,
            413,
            f"request body too large: at most {self.max_bytes} bytes",
        )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, message: str
    ) -> None:
        await failure(message, status=status, headers={"Connection": "close"})(scope, receive, send)


def _text_problem(body: bytes) -> str | None:
    if not _SURROGATE_ESCAPE.search(body):
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route's own validation says so, as for any body
    problem = json_text_problem(value)
    return None if problem is None else f"body.{problem}"


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()  # after the body: the server's own (a disconnect)

    return replayed
