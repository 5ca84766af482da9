"""Where `gpucm watch` sends an alert: a configured command and/or a webhook.

The command runs through the shell (it is the user's own line from their config, like
a git hook) with the alert as JSON on stdin and a few GPUCM_ALERT_* variables; gpucm's
own API keys are taken out of its environment. The webhook gets the same JSON by POST.
A failure is reported and the watch goes on: one bad hook must not stop the watching.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gpucm.domain.provider_names import KEY_ENV
from gpucm.engine.watches import Alert

if TYPE_CHECKING:
    import httpx

# the providers' keys, the team store's URL (it may hold a password), the API's token
_SECRET_ENV = frozenset({*KEY_ENV.values(), "DATABASE_URL", "GPUCM_API_TOKEN"})
COMMAND_TIMEOUT = 60.0
WEBHOOK_TIMEOUT = 15.0


@dataclass(frozen=True)
class DeliveryResult:
    target: str
    ok: bool
    detail: str = ""


def clean_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment a hook runs in, with gpucm's secrets taken out."""
    return {k: v for k, v in base.items() if k not in _SECRET_ENV}


def alert_env(alert: Alert, base: Mapping[str, str]) -> dict[str, str]:
    env = clean_env(base)
    env.update(
        GPUCM_ALERT_WATCH=alert.watch,
        GPUCM_ALERT_KIND=alert.kind,
        GPUCM_ALERT_MESSAGE=alert.message,
    )
    if alert.offers:
        best = alert.offers[0]
        env.update(
            GPUCM_ALERT_OFFER_ID=best.id,
            GPUCM_ALERT_PRICE=f"{best.price_per_hour:g}",
            GPUCM_ALERT_GPU=best.gpu_model,
        )
    return env


async def run_command(command: str, alert: Alert) -> DeliveryResult:
    return await run_command_with(command, alert.as_json(), alert_env(alert, os.environ))


async def run_command_with(
    command: str, data: Mapping[str, Any], env: Mapping[str, str]
) -> DeliveryResult:
    """Run the user's hook with `data` as JSON on stdin, in `env` (already cleaned)."""
    payload = json.dumps(data, default=str).encode()
    try:
        proc = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
        )
    except OSError as exc:
        return DeliveryResult("command", False, f"could not start: {exc.strerror}")
    try:
        async with asyncio.timeout(COMMAND_TIMEOUT):
            _, err = await proc.communicate(payload)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return DeliveryResult("command", False, f"killed after {COMMAND_TIMEOUT:g} s")
    if proc.returncode:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return DeliveryResult("command", False, f"exit {proc.returncode} {tail[0][:200]}".strip())
    return DeliveryResult("command", True)


def _where(url: str) -> str:
    # webhook URLs often carry a token in the path: name only the host
    parts = urlsplit(url)
    return parts.netloc or "webhook"


def is_slack(url: str) -> bool:
    """A Slack incoming webhook takes only a `{"text": ...}` body."""
    host = (urlsplit(url).hostname or "").lower()
    return host == "hooks.slack.com"


async def post_webhook(
    url: str, alert: Alert, *, transport: httpx.AsyncBaseTransport | None = None
) -> DeliveryResult:
    return await post_json(url, alert.as_json(), alert.message, transport=transport)


async def post_json(
    url: str,
    data: Mapping[str, Any],
    text: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> DeliveryResult:
    """POST `data` as JSON (a Slack incoming webhook gets `{"text": text}`). A failure
    names the host only: the path of a webhook URL is often its token."""
    # httpx loads only when a webhook is sent (with click and rich for its own CLI,
    # where they are installed): `gpucm history` and the like never need it
    import httpx

    target = f"webhook {_where(url)}"
    try:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT, transport=transport) as client:
            body = {"text": text} if is_slack(url) else dict(data)
            response = await client.post(
                url,
                content=json.dumps(body, default=str).encode(),
                headers={"content-type": "application/json"},
            )
    except httpx.HTTPError as exc:
        return DeliveryResult(target, False, type(exc).__name__)
    if response.status_code >= 400:
        return DeliveryResult(target, False, f"HTTP {response.status_code}")
    return DeliveryResult(target, True)


async def deliver(
    alert: Alert,
    *,
    command: str | None,
    webhook_url: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[DeliveryResult]:
    results = []
    if command:
        results.append(await run_command(command, alert))
    if webhook_url:
        results.append(await post_webhook(webhook_url, alert, transport=transport))
    return results
