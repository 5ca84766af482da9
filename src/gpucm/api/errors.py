"""Every failure as the error envelope with a fitting status: bad input 4xx with a clear
message, a provider's failure 502/503, and 5xx for gpucm's own faults only. Never a
traceback, never a secret, never the input a validation error was about."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gpucm.api.context import ApiContext
from gpucm.api.envelope import FieldError, failure
from gpucm.engine.instances import InstanceError
from gpucm.engine.launcher import LaunchError, LaunchInDoubt
from gpucm.engine.ports import ProviderNotConfigured
from gpucm.providers.errors import (
    CapacityError,
    InvalidRequest,
    NotFound,
    ProviderError,
    RateLimited,
    Unsupported,
)
from gpucm.store.damage import store_failure

log = logging.getLogger(__name__)

MAX_DETAILS = 20


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def provider_status(exc: ProviderError) -> tuple[int, dict[str, str] | None]:
    """The status that says whose problem a provider's failure is."""
    if isinstance(exc, NotFound):
        return 404, None
    if isinstance(exc, CapacityError | Unsupported):
        return 409, None  # the request is fine; the provider cannot do it now (or ever)
    if isinstance(exc, InvalidRequest):
        return 422, None
    if isinstance(exc, RateLimited):
        wait = max(1, round(exc.retry_after)) if exc.retry_after else 30
        return 503, {"Retry-After": str(wait)}
    # unavailable, unreadable, or the server's own key refused: not the caller's doing
    return 502, None


def field_errors(errors: list[Any], *, prefix: tuple[str, ...] = ()) -> list[FieldError]:
    out = []
    for err in errors[:MAX_DETAILS]:
        loc = [str(p) for p in (*prefix, *err.get("loc", ()))]
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error")
            message = "not valid JSON" + (f" ({reason})" if reason else "")
            loc = loc[:1]
        out.append(FieldError(field=".".join(loc) or "request", message=message))
    return out


def validation_failure(details: list[FieldError], secrets: list[str]) -> Response:
    summary = "; ".join(f"{d.field}: {d.message}" for d in details[:3])
    if len(details) > 3:
        summary += f" (and {len(details) - 3} more)"
    return failure(f"invalid request: {summary}", status=422, details=details, secrets=secrets)


def _context(request: Request) -> ApiContext | None:
    context = getattr(request.app.state, "context", None)
    return context if isinstance(context, ApiContext) else None


def _secrets(request: Request) -> list[str]:
    context = _context(request)
    return context.secrets() if context else []


def _store_failure(request: Request, exc: Exception) -> Response | None:
    """503 with the store's one line (a damaged or busy database), logged once per
    request; None when `exc` is not the store's."""
    context = _context(request)
    failure_ = store_failure(exc, context.services.store.path if context else "the store")
    if failure_ is None:
        return None
    log.error("%s %s: %s", request.method, request.url.path, failure_)
    return failure(str(failure_), status=503, secrets=_secrets(request))


def install(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return failure(
            exc.message, status=exc.status, headers=exc.headers, secrets=_secrets(request)
        )

    async def request_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_failure(field_errors(list(exc.errors())), _secrets(request))

    async def model_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError)
        damaged = _store_failure(request, exc)
        if damaged is not None:  # a stored row, not the request, did not validate
            return damaged
        return validation_failure(field_errors(exc.errors()), _secrets(request))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path} (see /openapi.json)"
        return failure(
            detail, status=exc.status_code, headers=exc.headers, secrets=_secrets(request)
        )

    async def provider_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProviderError)
        status, headers = provider_status(exc)
        return failure(str(exc), status=status, headers=headers, secrets=_secrets(request))

    async def not_configured(request: Request, exc: Exception) -> Response:
        return failure(str(exc), status=409, secrets=_secrets(request))

    async def launch_error(request: Request, exc: Exception) -> Response:
        # in doubt: the provider may have created it; gpucm checks before any retry
        status = 502 if isinstance(exc, LaunchInDoubt) else 409
        return failure(str(exc), status=status, secrets=_secrets(request))

    async def instance_error(request: Request, exc: Exception) -> Response:
        # InstanceError wraps a provider's failure (raised `from None`, so only as the
        # context): its kind still decides whose problem it is
        cause = exc.__context__
        status = provider_status(cause)[0] if isinstance(cause, ProviderError) else 409
        return failure(str(exc), status=status, secrets=_secrets(request))

    async def server_fault(request: Request, exc: Exception) -> Response:
        damaged = _store_failure(request, exc)
        if damaged is not None:
            return damaged
        log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        return failure(
            "internal error: the request could not be completed (see the server's log)",
            status=500,
        )

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(ValidationError, model_invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(ProviderError, provider_error)
    app.add_exception_handler(ProviderNotConfigured, not_configured)
    app.add_exception_handler(LaunchError, launch_error)
    app.add_exception_handler(InstanceError, instance_error)
    app.add_exception_handler(Exception, server_fault)
