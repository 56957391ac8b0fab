"""API requests skip Django's page middleware (no thread hop); other pages keep it."""

from __future__ import annotations

import pytest
from django.test import AsyncClient
from django.utils import deprecation

from tests.llm.factories import OfflineProviderFactory, make_route
from tests.llm.helpers import db


@pytest.fixture
def hops(monkeypatch):
    calls = []
    real = deprecation.sync_to_async

    def counting(func, *args, **kwargs):
        calls.append(getattr(func, "__qualname__", repr(func)))
        return real(func, *args, **kwargs)

    monkeypatch.setattr(deprecation, "sync_to_async", counting)
    return calls


@pytest.mark.django_db(transaction=True)
async def test_api_requests_do_not_hop_threads_for_middleware(hops, internal_headers):
    await db(lambda: make_route("m", OfflineProviderFactory()))()
    client = AsyncClient()
    response = await client.post(
        "/internal/llm/proxy",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        content_type="application/json",
        headers=internal_headers,
    )
    assert response.status_code == 200
    assert hops == []
    login = await client.get("/admin/login/")
    assert login.status_code == 200 and "csrfmiddlewaretoken" in login.content.decode()
    assert any("SessionMiddleware" in name for name in hops)  # pages keep Django's behaviour
