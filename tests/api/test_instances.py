"""Instances through the API on the demo market: the original create body, idempotency
(one key never creates two instances, even sent twice at once), the preflight's
refusals (price, vanished offer, budget, capacity), and the lifecycle."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from gpucm import paths
from gpucm.domain.models import Offer, SearchQuery
from gpucm.engine.launcher import Launcher
from gpucm.providers.demo import DemoProvider
from gpucm.providers.demo_instances import fails_for_capacity
from gpucm.providers.errors import AuthError, ProviderError, ProviderUnavailable, RateLimited
from gpucm.services import Services


async def offer_at(services: Services, provider: str, *, launchable: bool = True) -> Offer:
    page = await services.store.search(SearchQuery(providers=(provider,), limit=200))
    return next(o for o in page.offers if fails_for_capacity(o.id) != launchable)


def create_body(offer: Offer, **extra: Any) -> dict[str, Any]:
    """The original create body."""
    return {
        "provider": offer.provider,
        "offer_id": offer.id,
        "image": "pytorch/pytorch:latest",
        "label": "training-run",
        "environment": {"JUPYTER_TOKEN": "tok-123456", "WANDB_MODE": "offline"},
        "ports": [{"container_port": 8888, "protocol": "tcp"}],
        "resources": {"min_ram_gb": 1, "min_storage_gb": 20, "min_gpus": 1},
        **extra,
    }


async def instance_count(services: Services) -> int:
    return len(await services.store.instances.list(include_terminated=True))


async def test_create_with_the_original_body(api: httpx.AsyncClient, services: Services) -> None:
    offer = await offer_at(services, "vast_ai")
    r = await api.post(
        "/api/v1/instances", json=create_body(offer), headers={"Idempotency-Key": "key-1"}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["success"] is True
    data = body["data"]
    assert data["provider"] == "vast_ai" and data["offer_id"] == offer.id
    assert data["status"] == "provisioning"
    assert data["image"] == "pytorch/pytorch:latest"
    assert data["request_id"] == "key-1"
    assert data["name"].startswith("training-run-")
    assert r.headers["Location"] == f"/api/v1/instances/{data['id']}"
    assert body["message"].startswith(f"Launched {data['id']} (1 x {offer.gpu_model} at Vast.ai)")
    assert "all-in" in body["message"]
    stored = await services.store.instances.get(data["id"])
    assert stored is not None and stored.request_id == "key-1"


async def test_the_list_counts_its_instances_in_words(
    api: httpx.AsyncClient, services: Services
) -> None:
    """It said "1 instances."."""
    assert (await api.get("/api/v1/instances")).json()["message"].startswith("0 instances. ")
    offer = await offer_at(services, "vast_ai")
    assert (await api.post("/api/v1/instances", json=create_body(offer))).status_code == 201
    assert (await api.get("/api/v1/instances")).json()["message"].startswith("1 instance. ")


async def test_the_label_comes_back_as_typed(api: httpx.AsyncClient, services: Services) -> None:
    offer = await offer_at(services, "vast_ai")
    r = await api.post(
        "/api/v1/instances", json=create_body(offer, label="ML Training Workstation")
    )
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["label"] == "ML Training Workstation"
    assert data["name"].startswith("ML-Training-Workstation-")
    listed = await api.get("/api/v1/instances")
    assert [i["label"] for i in listed.json()["data"]] == ["ML Training Workstation"]
    one = await api.get(f"/api/v1/instances/{data['id']}")  # re-read from the provider
    assert one.json()["data"]["label"] == "ML Training Workstation"


async def test_a_key_reused_for_another_offer_is_refused(
    api: httpx.AsyncClient, services: Services
) -> None:
    page = await services.store.search(SearchQuery(providers=("vast_ai",), limit=200))
    first, other = [o for o in page.offers if not fails_for_capacity(o.id)][:2]
    headers = {"Idempotency-Key": "reused-key"}
    r = await api.post("/api/v1/instances", json=create_body(first), headers=headers)
    assert r.status_code == 201, r.text
    r = await api.post("/api/v1/instances", json=create_body(other), headers=headers)
    assert r.status_code == 422
    error = r.json()["error"]
    assert f"first used for offer {first.id}" in error and other.id in error
    assert await instance_count(services) == 1


async def test_the_offer_may_be_named_by_the_providers_own_id(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await offer_at(services, "runpod")
    body = create_body(offer, provider="RunPod", offer_id=offer.provider_id)
    r = await api.post("/api/v1/instances", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["data"]["offer_id"] == offer.id


async def test_the_same_key_never_creates_a_second_instance(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await offer_at(services, "vast_ai")
    headers = {"Idempotency-Key": "same-key"}
    first = await api.post("/api/v1/instances", json=create_body(offer), headers=headers)
    second = await api.post("/api/v1/instances", json=create_body(offer), headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["data"] == first.json()["data"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "nothing new was created" in second.json()["message"]
    # the body's request_id is the same key
    third = await api.post("/api/v1/instances", json=create_body(offer, request_id="same-key"))
    assert third.status_code == 200 and third.json()["data"]["id"] == first.json()["data"]["id"]
    assert await instance_count(services) == 1


async def test_the_same_key_sent_twice_at_once_creates_one(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await offer_at(services, "vast_ai")
    headers = {"Idempotency-Key": "racing"}
    a, b = await asyncio.gather(
        api.post("/api/v1/instances", json=create_body(offer), headers=headers),
        api.post("/api/v1/instances", json=create_body(offer), headers=headers),
    )
    assert sorted([a.status_code, b.status_code]) == [200, 201]
    assert a.json()["data"]["id"] == b.json()["data"]["id"]
    assert await instance_count(services) == 1


async def test_key_and_request_id_must_agree(api: httpx.AsyncClient, services: Services) -> None:
    offer = await offer_at(services, "vast_ai")
    r = await api.post(
        "/api/v1/instances",
        json=create_body(offer, request_id="one"),
        headers={"Idempotency-Key": "other"},
    )
    assert r.status_code == 422
    assert "Idempotency-Key header and request_id differ" in r.json()["error"]
    assert await instance_count(services) == 0


async def test_a_price_above_the_maximum_refuses(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await offer_at(services, "vast_ai")
    r = await api.post(
        "/api/v1/instances",
        json=create_body(offer, max_price_per_hour=round(offer.price_per_hour / 2, 4)),
    )
    assert r.status_code == 409
    error = r.json()["error"]
    assert "over your maximum" in error and "nothing was launched" in error
    assert await instance_count(services) == 0


async def test_a_vanished_offer_refuses(api: httpx.AsyncClient, services: Services) -> None:
    page = await services.store.search(SearchQuery(available=False, limit=2000))
    gone = next(o for o in page.offers if not o.available)
    r = await api.post("/api/v1/instances", json=create_body(gone))
    assert r.status_code == 409
    assert "the offer is gone" in r.json()["error"]
    assert await instance_count(services) == 0


async def test_the_budget_applies(api: httpx.AsyncClient, services: Services) -> None:
    offer = await offer_at(services, "vast_ai")
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"[budget]\nmax_hourly_usd = {offer.price_per_hour / 2:.6f}\n")
    services.settings_source._checked -= 5  # re-read the file now
    r = await api.post("/api/v1/instances", json=create_body(offer))
    assert r.status_code == 409
    assert "over the hourly budget" in r.json()["error"]
    assert await instance_count(services) == 0


async def test_no_capacity_refuses_and_names_equivalents(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await offer_at(services, "vast_ai", launchable=False)
    r = await api.post("/api/v1/instances", json=create_body(offer))
    assert r.status_code == 409
    error = r.json()["error"]
    assert error.startswith("not launched: Vast.ai: there are no longer any instances")
    assert await instance_count(services) == 0
    # the same key may try another offer: a failed request launched nothing
    retry = await api.post(
        "/api/v1/instances",
        json=create_body(await offer_at(services, "vast_ai")),
        headers={"Idempotency-Key": "after-capacity"},
    )
    assert retry.status_code == 201


async def test_failover_launches_the_cheapest_equivalent_once(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await offer_at(services, "vast_ai", launchable=False)
    body = create_body(offer, failover=True, max_price_per_hour=offer.price_per_hour * 3)
    r = await api.post("/api/v1/instances", json=body, headers={"Idempotency-Key": "fo-1"})
    assert r.status_code == 201, r.text
    data, message = r.json()["data"], r.json()["message"]
    assert data["offer_id"] != offer.id and data["request_id"] == "fo-1"
    assert data["gpu_model"] == offer.gpu_model and data["gpu_count"] == offer.gpu_count
    assert f"instead of {offer.gpu_count} x {offer.gpu_model}" in message
    again = await api.post("/api/v1/instances", json=body, headers={"Idempotency-Key": "fo-1"})
    assert again.status_code == 200 and again.json()["data"]["id"] == data["id"]


async def test_failover_with_no_equivalent_launches_nothing(
    api: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def none(*args: object, **kwargs: object) -> list[object]:
        return []

    monkeypatch.setattr(Launcher, "failover_candidates", none)
    offer = await offer_at(services, "vast_ai", launchable=False)
    r = await api.post("/api/v1/instances", json=create_body(offer, failover=True))
    assert r.status_code == 409
    assert "no equivalent offer" in r.json()["error"]
    assert "nothing was launched" in r.json()["error"]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"provider": "nimbus"}, 422, "unknown provider 'nimbus'"),
        ({"offer_id": "vast_ai:0"}, 404, "no offer 'vast_ai:0'"),
        ({"environment": {"1BAD": "x"}}, 422, "'1BAD' is not a variable name"),
        ({"ports": [{"container_port": 0}]}, 422, "body.ports.0.container_port"),
        ({"resources": {"min_gpus": 0}}, 422, "body.resources.min_gpus"),
        ({"max_price_per_hour": -1}, 422, "body.max_price_per_hour"),
    ],
)
async def test_bad_create_bodies(
    api: httpx.AsyncClient,
    services: Services,
    change: dict[str, Any],
    status: int,
    words: str,
) -> None:
    offer = await offer_at(services, "vast_ai")
    r = await api.post("/api/v1/instances", json=create_body(offer, **change))
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    assert await instance_count(services) == 0


async def test_missing_fields_and_a_bad_key(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/v1/instances", json={"image": "x"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert "body.provider: Field required" in error and "body.offer_id: Field required" in error
    r = await api.post(
        "/api/v1/instances",
        json={"provider": "vast_ai", "offer_id": "x"},
        headers={"Idempotency-Key": "k" * 201},
    )
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["error"]


async def test_the_lifecycle(api: httpx.AsyncClient, services: Services) -> None:
    offer = await offer_at(services, "vast_ai")
    created = (await api.post("/api/v1/instances", json=create_body(offer))).json()["data"]
    iid = created["id"]

    listed = await api.get("/api/v1/instances")
    assert [i["id"] for i in listed.json()["data"]] == [iid]
    assert "Spending" in listed.json()["message"]

    one = await api.get(f"/api/v1/instances/{iid}")
    assert one.status_code == 200 and one.json()["data"]["id"] == iid
    by_name = await api.get(f"/api/v1/instances/{created['name']}")
    assert by_name.json()["data"]["id"] == iid

    stopped = await api.post(f"/api/v1/instances/{iid}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["data"]["status"] == "stopped"
    assert stopped.json()["message"] == f"Stopped {iid}; it is stopped"
    started = await api.post(f"/api/v1/instances/{iid}/start")
    assert started.json()["data"]["status"] == "provisioning"
    restarted = await api.post(f"/api/v1/instances/{iid}/restart")
    assert restarted.status_code == 200

    gone = await api.delete(f"/api/v1/instances/{iid}")
    assert gone.status_code == 200 and gone.json()["data"]["status"] == "terminated"
    again = await api.delete(f"/api/v1/instances/{iid}")
    assert again.status_code == 200 and "already terminated" in again.json()["message"]
    assert (await api.get("/api/v1/instances")).json()["data"] == []
    every = await api.get("/api/v1/instances", params={"all": "true"})
    assert [i["status"] for i in every.json()["data"]] == ["terminated"]
    after = await api.post(f"/api/v1/instances/{iid}/start")
    assert after.status_code == 409 and "is terminated" in after.json()["error"]


async def test_what_a_provider_cannot_do_is_409(api: httpx.AsyncClient, services: Services) -> None:
    offer = await offer_at(services, "lambda_labs")
    created = await api.post("/api/v1/instances", json=create_body(offer))
    assert created.status_code == 201, created.text
    # what the provider cannot honour is said, never silently dropped
    assert "ignored: image: Lambda Cloud runs VMs" in created.json()["message"]
    r = await api.post(f"/api/v1/instances/{created.json()['data']['id']}/stop")
    assert r.status_code == 409
    assert "cannot stop" in r.json()["error"]


async def test_an_unknown_instance_is_404(api: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/api/v1/instances/vast_ai:nope"),
        ("DELETE", "/api/v1/instances/vast_ai:nope"),
        ("POST", "/api/v1/instances/vast_ai:nope/stop"),
    ):
        r = await api.request(method, path)
        assert r.status_code == 404, (method, path)
        assert r.json() == {
            "success": False,
            "error": "no instance 'vast_ai:nope'; see `gpucm instances list`",
        }


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (ProviderUnavailable("vast_ai", "timed out after 30 s"), 502, None),
        (RateLimited("vast_ai", "too many requests", retry_after=12.2), 503, "12"),
        (AuthError("vast_ai", "the API key was refused"), 502, None),
    ],
)
async def test_a_providers_failure_is_its_own_status(
    api: httpx.AsyncClient,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    error: ProviderError,
    status: int,
    retry_after: str | None,
) -> None:
    offer = await offer_at(services, "vast_ai")

    async def failing(self: DemoProvider, offer: Offer) -> Offer | None:
        raise error

    monkeypatch.setattr(DemoProvider, "quote", failing)
    r = await api.post("/api/v1/instances", json=create_body(offer))
    assert r.status_code == status
    assert r.json() == {"success": False, "error": f"Vast.ai: {error.message}"}
    assert r.headers.get("Retry-After") == retry_after
    assert await instance_count(services) == 0


async def test_spend_keeps_a_terminated_machine_and_refuses_bad_values(
    api: httpx.AsyncClient, services: Services
) -> None:
    offer = await offer_at(services, "runpod")
    r = await api.post("/api/v1/instances", json=create_body(offer))
    assert r.status_code == 201, r.text
    iid = r.json()["data"]["id"]
    r = await api.delete(f"/api/v1/instances/{iid}")
    assert r.status_code == 200, r.text
    r = await api.get("/api/v1/spend", params={"by": "instance", "since": "1d"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [row["instance"] for row in data["rows"]] == [iid]
    assert data["timezone"] == "UTC" and data["running_per_hour"] == 0
    for params in ({"by": "week"}, {"since": "soon"}, {"since": "0d"}):
        r = await api.get("/api/v1/spend", params=params)
        assert 400 <= r.status_code < 500, r.text
        assert r.json()["success"] is False
