"""Other web sites get nothing from this server, even one a browser on this machine
reaches.

- The Host header must name this server (ApiSettings.host_allowed): a page on another
  site that made its own hostname resolve to 127.0.0.1 (DNS rebinding) sends its own
  name as the Host, and is refused with 400.
- A request that changes something (POST, PUT, PATCH, DELETE) must say
  `Content-Type: application/json` (else 415), which a page can only send to another
  site after a CORS preflight this server does not grant; and if it carries an Origin
  (every browser sends one on such requests), that Origin must be this server itself
  or one of CORS_ORIGINS (else 403). Before this, a page on any site could launch an
  instance (a JSON POST through a rebound name) or stop one (a body-less POST as
  text/plain).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gpucm.api.api_settings import ApiSettings, origin_key
from gpucm.api.envelope import failure

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SHOWN = 80  # a header value echoed in a refusal, at most


def _shown(text: str) -> str:
    clean = "".join(ch if ch.isprintable() else "?" for ch in text[:_SHOWN])
    return clean + ("…" if len(text) > _SHOWN else "")


def is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class SiteGuard:
    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings
        # cross-site requests that may change things: only the origins named for CORS
        self.origins = (
            {o.rstrip("/").lower() for o in settings.cors_origins if o != "*"}
            if settings.enable_cors
            else set()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = self._problem(scope, headers)
        if problem is None:
            await self.app(scope, receive, send)
            return
        status, message = problem
        await failure(message, status=status)(scope, receive, send)

    def _problem(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        host = headers.get("host")
        if not self.settings.host_allowed(host):
            return 400, (
                f"host not allowed: {_shown(host or '')} (this server answers to localhost, "
                "127.0.0.1 and [::1]; GPUCM_ALLOWED_HOSTS adds names)"
            )
        if scope["method"] not in STATE_CHANGING:
            return None
        origin = headers.get("origin")
        if origin is not None and not self._same_site(origin, host):
            return 403, (
                f"cross-site request refused: Origin {_shown(origin)} is not this server "
                "(CORS_ORIGINS with ENABLE_CORS=true names sites that may)"
            )
        if origin is None and headers.get("sec-fetch-site") == "cross-site":
            return 403, "cross-site request refused (Sec-Fetch-Site: cross-site)"
        if not is_json(headers.get("content-type", "")):
            return 415, (
                f"{scope['method']} needs Content-Type: application/json (also with no body), "
                "so that no web page can send it from another site"
            )
        return None

    def _same_site(self, origin: str, host: str | None) -> bool:
        if origin.rstrip("/").lower() in self.origins:
            return True
        key = origin_key(origin)
        if key is None or host is None:
            return False  # "null" (a sandboxed page, a file) or no Host to compare
        scheme, address = key
        server = origin_key(f"{scheme}://{host}")
        return server is not None and server[1] == address
