"""The error types every provider maps its failures to.

Each message is meant for a person: it names the provider and says what to do.
Messages never include an API key: adapters build them from status codes and the
provider's own error text, and `redact` scrubs any configured secret that slipped in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from gpucm.domain.provider_names import display_name
from gpucm.providers.values import plain


class ProviderError(Exception):
    kind: ClassVar[str] = "error"

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        # often the provider's own words (an error body's "msg"): text that is data,
        # cleaned of escape sequences before any front end or log line prints it
        message = plain(message)
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def display_name(self) -> str:
        return display_name(self.provider)

    def __str__(self) -> str:
        return f"{self.display_name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.provider!r}, {self.message!r}, status={self.status})"


class AuthError(ProviderError):
    """The key is missing, wrong, or lacks permission."""

    kind = "auth"


class RateLimited(ProviderError):
    kind = "rate_limited"


class CapacityError(ProviderError):
    """No capacity for this configuration, or the offer is gone: try another offer."""

    kind = "capacity"


class NotFound(ProviderError):
    kind = "not_found"


class ProviderUnavailable(ProviderError):
    """Timeouts, connection failures and 5xx: the provider, not the request."""

    kind = "unavailable"


class BadResponse(ProviderError):
    """The provider answered, but not with something we can read."""

    kind = "bad_response"


class InvalidRequest(ProviderError):
    kind = "invalid_request"


class Unsupported(ProviderError):
    """The provider's API cannot do this (e.g. Lambda has no stop/start)."""

    kind = "unsupported"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
