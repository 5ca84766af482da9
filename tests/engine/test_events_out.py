"""Events out: every kind (launch started, running, failed, interrupted, stopped,
terminated, budget warning, budget refused) reaches a real HTTP server on loopback
and the configured command, once, with no secret in the payload and no API key in
the command's environment; a Slack incoming webhook gets `{"text": ...}`. On both
store backends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gpucm import paths
from gpucm.config import EVENT_KINDS
from gpucm.domain.models import Instance, SearchQuery
from gpucm.engine.events import EventSender
from gpucm.engine.launch_errors import NoCapacity
from gpucm.engine.launch_flow import LaunchRefused, LaunchTarget
from gpucm.engine.launch_options import LaunchOptions
from gpucm.engine.launcher import Preflight
from gpucm.providers.demo_instances import fails_for_capacity
from gpucm.services import Services
from tests.conftest import SteppedClock, launchable

ENV_SECRET = "hf-secret-value-123"
KEY_SECRET = "rp-key-should-never-leak"


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                received.bodies.append(json.loads(self.rfile.read(length)))
                received.paths.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kinds(self) -> list[str]:
        return [b["event"] for b in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def services(stepped_market: Services) -> Services:
    return stepped_market


def configure(services: Services, text: str) -> None:
    cfg = paths.config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text)
    services.settings_source._checked -= 5  # re-read now, not after its interval


def opts(request_id: str, **kw: Any) -> LaunchOptions:
    return LaunchOptions(
        request_id=request_id, label="train", environment=(("HF_TOKEN", ENV_SECRET),), **kw
    )


async def yes(pre: Preflight) -> bool:
    return True


async def test_every_event_reaches_a_local_webhook_and_the_command_once(
    services: Services,
    stepped_clock: SteppedClock,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", KEY_SECRET)
    monkeypatch.setenv("GPUCM_API_TOKEN", "api-token-secret")
    out = tmp_path / "hook"
    out.mkdir()
    hook = f'cat > {out}/"$GPUCM_EVENT".json; env > {out}/"$GPUCM_EVENT".env'
    offer = await launchable(services)
    rate = offer.price_per_hour
    # the first launch takes 85% of the budget: a warning; a second one passes it
    budget = f"[budget]\nmax_hourly_usd = {rate / 0.85:.6f}\n"
    configure(
        services,
        f'{budget}[events]\nwebhook_url = "{receiver.url}"\ncommand = """{hook}"""\n',
    )

    flow = services.launch_flow
    first = await flow.run(LaunchTarget.of(offer), opts("ev-1"), confirm=yes)
    instance = first.instance
    with pytest.raises(LaunchRefused, match="budget"):
        await flow.run(LaunchTarget.of(offer), opts("ev-2"), confirm=yes)
    configure(services, f'[events]\nwebhook_url = "{receiver.url}"\ncommand = """{hook}"""\n')
    page = await services.store.search(SearchQuery(limit=500))
    failing = next(o for o in page.offers if fails_for_capacity(o.id) and o.available)
    with pytest.raises(NoCapacity):
        await flow.run(LaunchTarget.of(failing), opts("ev-3"), confirm=yes)

    manager = services.instances
    stepped_clock.advance(60)  # the demo machine boots
    await manager.sync()
    running = await manager.find(instance.id)
    assert running.status == "running"
    await manager.act(running, "stop")
    await manager.act(await manager.find(instance.id), "start")
    stepped_clock.advance(60)
    await manager.sync()

    # the provider says a spot machine was outbid: stopped, with the reason
    control = services.control(instance.provider)
    real_list = control.list_instances

    async def outbid() -> list[Instance]:
        listed = await real_list()
        return [
            i.model_copy(update={"status": "stopped", "status_reason": "outbid"})
            if i.id == instance.id
            else i
            for i in listed
        ]

    monkeypatch.setattr(control, "list_instances", outbid)
    await manager.sync()
    monkeypatch.setattr(control, "list_instances", real_list)
    await manager.act(await manager.find(instance.id), "terminate")

    await services.send_events()
    kinds = receiver.kinds()
    assert set(kinds) == set(EVENT_KINDS), kinds
    # running twice (launch, then start again), started twice (the launch that found
    # no capacity started too), everything else once
    assert sorted(kinds) == sorted([*EVENT_KINDS, "running", "launch_started"]), kinds

    # once: sending again, or re-syncing the same states, sends nothing more
    await manager.sync()
    await services.send_events()
    assert len(receiver.bodies) == len(kinds)

    for body in receiver.bodies:
        text = json.dumps(body)
        assert ENV_SECRET not in text and KEY_SECRET not in text and "T0KEN" not in text
    started = [b for b in receiver.bodies if b["event"] == "launch_started"]
    assert [b["request_id"] for b in started] == ["ev-1", "ev-3"]
    assert started[0]["offer"]["id"] == offer.id
    by_kind = {b["event"]: b for b in receiver.bodies}
    assert by_kind["budget_refused"]["request_id"] == "ev-2"
    assert by_kind["launch_failed"]["request_id"] == "ev-3"
    assert by_kind["interrupted"]["instance"]["status_reason"] == "outbid"
    assert by_kind["terminated"]["instance"]["id"] == instance.id

    # the command heard each kind, with the event on stdin and no API key in its env
    for kind in EVENT_KINDS:
        assert json.loads((out / f"{kind}.json").read_text())["event"] == kind
        env = (out / f"{kind}.env").read_text()
        assert KEY_SECRET not in env and "RUNPOD_API_KEY" not in env
        assert "api-token-secret" not in env
        assert not any(line.startswith("DATABASE_URL=") for line in env.splitlines())
        assert f"GPUCM_EVENT={kind}" in env


async def test_events_wait_in_the_outbox_until_a_hook_is_configured(
    services: Services, receiver: Receiver
) -> None:
    offer = await launchable(services)
    await services.launch_flow.run(LaunchTarget.of(offer), opts("w-1"), confirm=yes)
    await services.send_events()  # nowhere to send
    assert receiver.bodies == []
    configure(services, f'[events]\nwebhook_url = "{receiver.url}"\nkinds = ["launch_started"]\n')
    await services.send_events()
    assert receiver.kinds() == ["launch_started"]


async def test_a_slack_webhook_gets_text_and_a_failure_names_only_the_host(
    services: Services,
) -> None:
    offer = await launchable(services)
    await services.launch_flow.run(LaunchTarget.of(offer), opts("s-1"), confirm=yes)
    seen: list[tuple[str, dict[str, Any]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, json.loads(request.content)))
        return httpx.Response(500)

    configure(
        services,
        '[events]\nwebhook_url = "https://hooks.slack.com/services/T1/B2/SECRETPATH"\n',
    )
    sender = EventSender(
        services.store.events,
        lambda: services.settings.events,
        transport=httpx.MockTransport(answer),
    )
    results = await sender.flush()
    assert seen and seen[0][0] == "hooks.slack.com"
    assert set(seen[0][1]) == {"text"} and "launching" in seen[0][1]["text"]
    assert not results[0].ok and "SECRETPATH" not in results[0].target + results[0].detail
    # a failed event is tried again (up to its attempts), then left
    for _ in range(5):
        await sender.flush()
    assert len(seen) == 3


def test_a_bad_events_webhook_is_one_line_without_the_url(tmp_path: Path) -> None:
    from gpucm.config import ConfigError, load_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text('[events]\nwebhook_url = "ftp://x/SECRETPATH"\n')
    with pytest.raises(ConfigError) as err:
        load_settings({}, cfg)
    assert "SECRETPATH" not in str(err.value) and "http" in str(err.value)
