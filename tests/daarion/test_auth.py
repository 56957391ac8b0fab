from __future__ import annotations

import pytest
from django.test import Client

from daarion.agents.services import service_token_revoke
from tests.factories import AgentFactory, make_service_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def sofia():
    return AgentFactory(id="agent:sofia")


def _get(client: Client, path: str, **headers):
    return client.get(path, headers=headers)


def test_no_credentials_is_json_401(client, sofia):
    response = _get(client, f"/internal/agents/{sofia.id}")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == "unauthorized"


def test_unknown_api_path_without_credentials_is_401_not_404(client):
    response = client.post("/internal/llm/proxy-that-does-not-exist")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"


def test_wrong_internal_secret_is_401(client, sofia):
    response = _get(client, f"/internal/agents/{sofia.id}", x_internal_secret="nope")
    assert response.status_code == 401


def test_internal_secret_is_accepted(client, sofia, settings):
    response = _get(
        client, f"/internal/agents/{sofia.id}", x_internal_secret=settings.INTERNAL_SECRET
    )
    assert response.status_code == 200
    assert response.json()["microdao_id"] == sofia.microdao_id


def test_internal_secret_as_bearer_is_accepted(client, sofia, settings):
    response = _get(
        client, f"/internal/agents/{sofia.id}", authorization=f"Bearer {settings.INTERNAL_SECRET}"
    )
    assert response.status_code == 200


def test_service_token_with_scope(client, sofia):
    _, raw = make_service_token(scopes=["agents"])
    response = _get(client, f"/internal/agents/{sofia.id}", authorization=f"Bearer {raw}")
    assert response.status_code == 200


def test_service_token_wrong_scope_is_403(client, sofia):
    _, raw = make_service_token(scopes=["llm"])
    response = _get(client, f"/internal/agents/{sofia.id}", authorization=f"Bearer {raw}")
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "permission_denied"
    assert "agents" in response.json()["error"]["message"]


def test_bound_token_cannot_act_as_another_agent(client, sofia):
    other = AgentFactory(microdao=sofia.microdao)
    _, raw = make_service_token(scopes=["agents"], agent=sofia)
    assert (
        _get(client, f"/internal/agents/{sofia.id}", authorization=f"Bearer {raw}").status_code
        == 200
    )
    response = _get(client, f"/internal/agents/{other.id}", authorization=f"Bearer {raw}")
    assert response.status_code == 403


def test_revoked_token_is_401(client, sofia):
    token, raw = make_service_token(scopes=["agents"])
    assert (
        _get(client, f"/internal/agents/{sofia.id}", authorization=f"Bearer {raw}").status_code
        == 200
    )
    service_token_revoke(token=token)
    assert (
        _get(client, f"/internal/agents/{sofia.id}", authorization=f"Bearer {raw}").status_code
        == 401
    )


def test_malformed_authorization_header_is_401(client, sofia):
    for value in ["Basic abc", "Bearer", "Bearer    ", "token"]:
        response = _get(client, f"/internal/agents/{sofia.id}", authorization=value)
        assert response.status_code == 401, value


def test_token_last_used_is_recorded(client, sofia):
    token, raw = make_service_token(scopes=["agents"])
    assert token.last_used_at is None
    _get(client, f"/internal/agents/{sofia.id}", authorization=f"Bearer {raw}")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_token_is_stored_hashed(sofia):
    token, raw = make_service_token()
    token.refresh_from_db()
    assert raw not in token.token_hash
    assert token.prefix and raw.startswith(token.prefix)
    assert len(token.token_hash) == 64


def test_unknown_agent_is_json_404(client, internal_headers):
    response = client.get("/internal/agents/agent:nobody", headers=internal_headers)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "agent_not_found"
