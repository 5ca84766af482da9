"""Answers to repeated searches, kept while nothing in the store has changed.

A search answer is a pure function of the request, the store's contents, the catalog
and the secrets scrubbed from it, and the store changes only when something commits
(a refresh every minute or so, a launch). Dashboards and scripts ask the same few
searches again and again in between, and each took ~6 ms of CPU to build (a hundred
offers as models and JSON), so 50 clients queued behind each other (bench
api_load_search_mix_*). This middleware keeps each answer's bytes with what it
depended on, checks them per request (one `PRAGMA data_version`, which changes with
every commit of any connection, this server's or another process's), and sends the
same bytes again while they still hold. It sits inside every check (the site guard,
the rate limit, the token, the body limit): a cached answer is only ever sent where
the request would have been answered anyway.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SEARCH_PATHS = frozenset({"/api/v1/offers/search", "/api/v1/offers/search/advanced"})
MAX_ENTRIES = 512
MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class _Answer:
    stamp: Hashable
    start: Message
    body: bytes


class SearchCache:
    def __init__(
        self,
        app: ASGIApp,
        stamp: Callable[[], Awaitable[Hashable]],
        *,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        """`stamp`: what the answers depend on beyond the request (the store's data
        version, the catalog, the secrets); an answer is sent again only under the
        stamp it was made with."""
        self.app = app
        self._stamp = stamp
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._answers: OrderedDict[tuple[str, bytes, bytes], _Answer] = OrderedDict()
        self._bytes = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] not in SEARCH_PATHS
            or scope["method"] not in ("GET", "POST")
        ):
            await self.app(scope, receive, send)
            return
        body, receive = await _read_body(receive)
        key = (scope["path"], scope.get("query_string", b""), body)
        # read before the search runs: an answer is never kept under a newer stamp
        # than the data it was built from
        stamp = await self._stamp()
        answer = self._answers.get(key)
        if answer is not None and answer.stamp == stamp:
            self._answers.move_to_end(key)
            await send(answer.start)
            await send({"type": "http.response.body", "body": answer.body})
            return
        await self.app(scope, receive, self._keeping(key, stamp, send))

    def _keeping(self, key: tuple[str, bytes, bytes], stamp: Hashable, send: Send) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []

        async def sending(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body") and start["status"] == 200:
                    self._keep(key, _Answer(stamp, start, b"".join(chunks)))
            await send(message)

        return sending

    def _keep(self, key: tuple[str, bytes, bytes], answer: _Answer) -> None:
        old = self._answers.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        if len(answer.body) > self._max_bytes // 8:
            return  # one huge answer would push out many
        self._answers[key] = answer
        self._bytes += len(answer.body)
        while len(self._answers) > self._max_entries or self._bytes > self._max_bytes:
            _, dropped = self._answers.popitem(last=False)
            self._bytes -= len(dropped.body)


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body (bounded by the body limit outside), and a receive that
    hands it over again."""
    chunks: list[bytes] = []
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break

    async def replayed() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return b"".join(chunks), replayed
