"""Watches fire once per offer and condition, per channel, not once per refresh."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gpucm import formatting as fmt
from gpucm.domain.clock import Clock
from gpucm.engine.alert_delivery import deliver, run_command
from gpucm.engine.watches import WatchChecker
from gpucm.presets import PresetBook, Watch
from gpucm.store.store import Store
from tests.offer_factory import make_offer


@pytest.fixture
async def store(db_path: Path, clock: Clock) -> AsyncIterator[Store]:
    s = await Store.open(db_path, clock=clock)
    yield s
    await s.close()


def book(*watches: Watch) -> PresetBook:
    return PresetBook({}, {w.name: w for w in watches})


async def market(store: Store, provider: str, prices: dict[str, float]) -> None:
    await store.replace_offers(
        provider,
        [make_offer(provider, pid, price_per_hour=p) for pid, p in prices.items()],
    )


CHEAP = Watch("cheap", 'gpu="RTX 4090"', price_at_or_under=0.5)


async def test_price_watch_fires_once_per_offer(store: Store) -> None:
    checker = WatchChecker(store, "tui")
    await market(store, "vast_ai", {"a": 0.9, "b": 0.7})
    assert await checker.check(book(CHEAP)) == []
    await market(store, "vast_ai", {"a": 0.45, "b": 0.7})
    (alert,) = await checker.check(book(CHEAP))
    assert [o.id for o in alert.offers] == ["vast_ai:a"]
    assert alert.message == (
        f"cheap: 1x RTX 4090 at Vast.ai {fmt.price(0.45)}/h (Texas, US),"
        f" at or under {fmt.price(0.5)}/h"
    )
    # the next refreshes keep the offer under the price: no new alert
    await market(store, "vast_ai", {"a": 0.44, "b": 0.7})
    assert await checker.check(book(CHEAP)) == []
    # another offer crossing is its own alert
    await market(store, "vast_ai", {"a": 0.44, "b": 0.5})
    (second,) = await checker.check(book(CHEAP))
    assert [o.id for o in second.offers] == ["vast_ai:b"]


async def test_each_channel_hears_an_alert_once(store: Store) -> None:
    await market(store, "vast_ai", {"a": 0.3})
    assert len(await WatchChecker(store, "tui").check(book(CHEAP))) == 1
    assert len(await WatchChecker(store, "watch").check(book(CHEAP))) == 1
    assert await WatchChecker(store, "tui").check(book(CHEAP)) == []
    assert await WatchChecker(store, "watch").check(book(CHEAP)) == []
    assert await store.alerts.forget("cheap") == 2
    assert len(await WatchChecker(store, "tui").check(book(CHEAP))) == 1


async def test_the_filter_still_applies_to_a_price_watch(store: Store) -> None:
    watch = Watch("eu", 'gpu="RTX 4090" region=Europe', price_at_or_under=1.0)
    await store.replace_offers(
        "vast_ai",
        [
            make_offer(provider_id="us", price_per_hour=0.2, region="Texas, US"),
            make_offer(provider_id="de", price_per_hour=0.8, region="Germany"),
            make_offer(provider_id="gone", price_per_hour=0.1, region="France", available=False),
        ],
    )
    (alert,) = await WatchChecker(store, "tui").check(book(watch))
    assert [o.id for o in alert.offers] == ["vast_ai:de"]


async def test_offer_count_watch_rearms_when_the_count_drops(store: Store) -> None:
    watch = Watch("plenty", 'gpu="RTX 4090"', min_offers=3)
    checker = WatchChecker(store, "tui")
    await market(store, "vast_ai", {"a": 1, "b": 1})
    assert await checker.check(book(watch)) == []
    await market(store, "vast_ai", {"a": 1, "b": 1, "c": 1})
    (alert,) = await checker.check(book(watch))
    assert (alert.kind, alert.count) == ("offers", 3)
    await market(store, "vast_ai", {"a": 1, "b": 1, "c": 1, "d": 1})
    assert await checker.check(book(watch)) == []
    await market(store, "vast_ai", {"a": 1})
    assert await checker.check(book(watch)) == []
    await market(store, "vast_ai", {"a": 1, "b": 1, "c": 1})
    assert len(await checker.check(book(watch))) == 1


async def test_new_provider_watch_ignores_who_offered_it_at_first(store: Store) -> None:
    watch = Watch("who", 'gpu="RTX 4090"', new_provider=True)
    checker = WatchChecker(store, "tui")
    await market(store, "vast_ai", {"a": 1})
    assert await checker.check(book(watch)) == []
    await market(store, "runpod", {"x": 1})
    (alert,) = await checker.check(book(watch))
    assert alert.providers == ("runpod",)
    assert alert.message == "who: now also offered by RunPod"
    assert await checker.check(book(watch)) == []


async def test_command_gets_the_alert_without_the_api_keys(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAST_AI_API_KEY", "sk-very-secret")
    await market(store, "vast_ai", {"a": 0.3})
    (alert,) = await WatchChecker(store, "watch").check(book(CHEAP))
    out = tmp_path / "out.json"
    script = (
        "import json, os, sys; d = json.load(sys.stdin);"
        " d['env'] = dict(os.environ);"
        f" open({str(out)!r}, 'w').write(json.dumps(d))"
    )
    result = await run_command(f"{sys.executable} -c {json.dumps(script)}", alert)
    assert result.ok, result.detail
    sent = json.loads(out.read_text())
    assert sent["watch"] == "cheap"
    assert sent["offers"][0]["id"] == "vast_ai:a"
    assert sent["env"]["GPUCM_ALERT_OFFER_ID"] == "vast_ai:a"
    assert sent["env"]["GPUCM_ALERT_PRICE"] == "0.3"
    assert "VAST_AI_API_KEY" not in sent["env"]
    assert "sk-very-secret" not in out.read_text()


async def test_failing_hooks_are_reported_not_raised(store: Store) -> None:
    await market(store, "vast_ai", {"a": 0.3})
    (alert,) = await WatchChecker(store, "watch").check(book(CHEAP))
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    results = await deliver(
        alert,
        command="exit 3",
        webhook_url="https://hooks.example.com/T000/secret-token",
        transport=httpx.MockTransport(handler),
    )
    assert [(r.target, r.ok) for r in results] == [
        ("command", False),
        ("webhook hooks.example.com", False),
    ]
    assert results[0].detail.startswith("exit 3")
    assert results[1].detail == "HTTP 500"
    assert json.loads(seen[0].content)["kind"] == "price"
    assert all("secret-token" not in r.target + r.detail for r in results)
