"""API requests skip Django's page middleware: a session cookie cannot break them.

With SESSION_SAVE_EVERY_REQUEST=True, an API request carrying a session cookie used to make the
session middleware save the session from the event loop (SynchronousOnlyOperation): an HTML 500.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.test import AsyncClient

from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def session_cookie(settings):
    settings.SESSION_SAVE_EVERY_REQUEST = True
    session = SessionStore()
    session["seen"] = True
    session.create()
    return settings.SESSION_COOKIE_NAME, session.session_key


def _client(session_cookie) -> AsyncClient:
    client = AsyncClient()
    name, value = session_cookie
    client.cookies[name] = value
    return client


@pytest.mark.parametrize("path", ["/internal/agents/agent:cookie", "/v1/models"])
async def test_api_request_with_a_session_cookie_is_json(session_cookie, internal_headers, path):
    await sync_to_async(AgentFactory)(id="agent:cookie")
    client = _client(session_cookie)
    response = await client.get(path, headers=internal_headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert "Set-Cookie" not in response  # the API never touches the session


async def test_api_errors_with_a_session_cookie_are_json(session_cookie, internal_headers):
    client = _client(session_cookie)
    for path in ("/internal/no-such-endpoint", "/v1/no-such-endpoint"):
        response = await client.get(path, headers=internal_headers)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found"


async def test_admin_pages_keep_the_session(session_cookie):
    client = _client(session_cookie)
    response = await client.get("/admin/login/")
    assert response.status_code == 200
    assert "csrfmiddlewaretoken" in response.content.decode()
    assert "sessionid" in response.cookies  # saved on every request, as configured
