"""The API on the seeded demo market (fixed clock), driven in-process over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from gpucm.api.api_settings import ApiSettings
from gpucm.api.app import create_app
from gpucm.services import Services
from gpucm.tui.screenshots import demo_services
from tests.backends import team_store_env as team_store_env  # every API test, both backends

# a loopback name, as a client of a server on 127.0.0.1 sends it in the Host header
BASE = "http://127.0.0.1:8080"
# what a well-behaved client sends with every POST and DELETE (the site guard wants it)
JSON_HEADERS = {"Content-Type": "application/json"}


def client_for(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=BASE, headers=JSON_HEADERS)


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    s = await demo_services()
    yield s
    await s.aclose()


@pytest.fixture
async def api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The API with default settings but no rate limit (tests send many requests)."""
    app = create_app(services, ApiSettings(rate_limit_enabled=False))
    async with client_for(app) as client:
        yield client
