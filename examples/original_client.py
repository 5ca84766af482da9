#!/usr/bin/env python3
"""The GPU Cloud Manager API's Python client example, run against `gpucm serve`.

    gpucm serve --demo &
    python examples/original_client.py [BASE_URL]

It searches (advanced search, `gpu_model` singular as the original client sends it),
reads a model from /gpu-models (keyed by name, as the spec shows), prints market
insights from /marketplace/stats, and creates an instance on the
cheapest match with an Idempotency-Key: a retry with the same key never creates a
second instance. Standard library only.

BASE_URL: the first argument, else $GPUCM_API_URL, else http://127.0.0.1:8080.
$GPUCM_API_TOKEN is sent as a bearer token when set; $IDEMPOTENCY_KEY fixes the key
(by default each run makes a new one, so each run creates one instance).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080"


class APIError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"HTTP {status}: {error}")
        self.status = status
        self.error = error


class GPUCloudClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                envelope: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                error = json.load(exc).get("error", exc.reason)
            except (ValueError, AttributeError):
                error = exc.reason
            raise APIError(exc.code, str(error)) from None
        if not envelope.get("success"):
            raise APIError(200, str(envelope.get("error")))
        return envelope

    def search_offers(self, **filters: Any) -> list[dict[str, Any]]:
        envelope = self._request("POST", "/api/v1/offers/search/advanced", filters)
        offers: list[dict[str, Any]] = envelope["data"]
        return offers

    def get_gpu_models(self) -> dict[str, dict[str, Any]]:
        """The catalog as the spec answers it: an object keyed by model name."""
        models: dict[str, dict[str, Any]] = self._request("GET", "/api/v1/gpu-models")["data"]
        return models

    def get_marketplace_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._request("GET", "/api/v1/marketplace/stats")["data"]
        return stats

    def create_instance(self, idempotency_key: str, **body: Any) -> dict[str, Any]:
        return self._request(
            "POST", "/api/v1/instances", body, headers={"Idempotency-Key": idempotency_key}
        )


def print_insights(stats: dict[str, Any]) -> None:
    prices = stats["price_range"]
    print("Market insights:")
    print(f"  {stats['available_instances']} of {stats['total_instances']} offers available")
    print(
        f"  average price ${stats['average_price']:.2f}/h "
        f"(range ${prices['min']:.2f} to ${prices['max']:.2f}/h)"
    )
    by_provider = ", ".join(f"{p} {n}" for p, n in sorted(stats["provider_stats"].items()))
    print(f"  offers by provider: {by_provider}")
    ranked = sorted(
        stats["model_stats"].items(), key=lambda item: item[1]["available_count"], reverse=True
    )
    print("  most available GPU models:")
    for name, model in ranked[:5]:
        print(
            f"    {name:<18} {model['available_count']:>4} available, "
            f"from ${model['min_price']:.2f}/h at {', '.join(model['providers'])}"
        )


def main(argv: list[str]) -> int:
    base_url = argv[0] if argv else os.environ.get("GPUCM_API_URL", DEFAULT_URL)
    client = GPUCloudClient(base_url, token=os.environ.get("GPUCM_API_TOKEN") or None)

    offers = client.search_offers(
        gpu_model="RTX 4090",
        max_price=1.0,
        min_ram=16,
        available=True,
        sort_by="price",
        sort_order="asc",
        limit=5,
    )
    print(f"Found {len(offers)} RTX 4090 offers under $1.00/h:")
    for offer in offers:
        print(
            f"  {offer['id']:<26} {offer['gpu_count']} x {offer['gpu_model']:<10} "
            f"${offer['price_per_hour']:.3f}/h  {offer['region'] or '-'}"
        )

    models = client.get_gpu_models()
    rtx = models["RTX 4090"]
    print(
        f"RTX 4090: {rtx['memory_gb']:g} GB, performance score {rtx['performance_score']} "
        f"({len(models)} GPU models in the catalog)"
    )

    print_insights(client.get_marketplace_stats())

    # One key for this whole attempt: retrying with it (even on another offer) never
    # creates a second instance.
    key = os.environ.get("IDEMPOTENCY_KEY") or f"example-{uuid.uuid4().hex}"
    for offer in offers[:3]:
        try:
            created = client.create_instance(
                key,
                provider=offer["provider"],
                offer_id=offer["id"],
                image="pytorch/pytorch:latest",
                label="example-training",
                environment={"JUPYTER_TOKEN": "change-me-please"},
                ports=[{"container_port": 8888, "protocol": "tcp"}],
                resources={"min_ram_gb": 16, "min_gpus": 1},
                max_price_per_hour=1.5,
            )
        except APIError as exc:
            if exc.status != 409:
                raise
            print(f"Not created on {offer['id']}: {exc.error}")
            continue
        instance = created["data"]
        print(
            f"Created instance {instance['id']} ({instance['gpu_count']} x "
            f"{instance['gpu_model']}, {instance['status']}) at "
            f"${instance['price_per_hour']:.3f}/h"
        )
        print(f"  {created['message']}")
        return 0
    print("No instance was created.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except APIError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
