"""One agent access policy on every API: the same status and error type everywhere.

| case                                   | status | error type              |
|----------------------------------------|--------|-------------------------|
| unknown agent                          | 404    | `agent_not_found`       |
| inactive agent                         | 403    | `agent_inactive`        |
| agent outside the microDAO named       | 403    | `agent_not_in_microdao` |
| bound token acting as another agent    | 403    | `permission_denied`     |

The tools API names no microDAO (a tool call acts as the agent in its own microDAO), so the
microDAO case does not apply to it. /v1 answers in OpenAI's error shape, where `type` is
OpenAI's category and the platform's error type is the `code`.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import AgentFactory, MicroDAOFactory, make_service_token
from tests.llm.factories import OfflineProviderFactory, make_route

pytestmark = pytest.mark.django_db(transaction=True)

EXPECTED = {
    "unknown": (404, "agent_not_found"),
    "inactive": (403, "agent_inactive"),
    "foreign_microdao": (403, "agent_not_in_microdao"),
    "bound_as_other": (403, "permission_denied"),
}


def _chat(agent_id, microdao_id):
    return {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"agent_id": agent_id, "microdao_id": microdao_id},
    }


def _memory(agent_id, microdao_id, **extra):
    return {"agent_id": agent_id, "microdao_id": microdao_id, **extra}


# Each API: (method, path, body) for acting as `agent_id` in `microdao_id`.
APIS = {
    "llm proxy": lambda a, m: ("post", "/internal/llm/proxy", _chat(a, m)),
    "v1 chat completions": lambda a, m: ("post", "/v1/chat/completions", _chat(a, m)),
    "memory store": lambda a, m: (
        "post",
        "/internal/agent-memory/store",
        _memory(a, m, content={"text": "hello"}),
    ),
    "memory query": lambda a, m: (
        "post",
        "/internal/agent-memory/query",
        _memory(a, m, query="hi"),
    ),
    "tools list": lambda a, m: ("get", f"/internal/tools?agent_id={a}", None),
    "tools call": lambda a, m: (
        "post",
        "/internal/tools/call",
        {"agent_id": a, "tool_id": "demo.echo", "args": {}},
    ),
    "agents respond": lambda a, m: (
        "post",
        f"/internal/agents/{a}/respond",
        {"message": "hi", "microdao_id": m},
    ),
}
NO_MICRODAO = {"tools list", "tools call"}


@pytest.fixture
def world():
    make_route("m", OfflineProviderFactory())
    home = MicroDAOFactory(id="microdao:home")
    other = MicroDAOFactory(id="microdao:other")
    active = AgentFactory(id="agent:active", microdao=home)
    inactive = AgentFactory(id="agent:inactive", microdao=home, is_active=False)
    _, bound_token = make_service_token(agent=active)
    return {
        "home": home.id,
        "other": other.id,
        "active": active.id,
        "inactive": inactive.id,
        "bound_token": bound_token,
    }


def _send(api: str, agent_id: str, microdao_id: str, headers: dict):
    method, path, body = APIS[api](agent_id, microdao_id)
    client = Client()
    if method == "get":
        return client.get(path, headers=headers)
    return client.post(path, body, content_type="application/json", headers=headers)


def _case(world, case: str, internal_headers: dict):
    if case == "unknown":
        return "agent:ghost", world["home"], internal_headers
    if case == "inactive":
        return world["inactive"], world["home"], internal_headers
    if case == "foreign_microdao":
        return world["active"], world["other"], internal_headers
    # A token bound to agent:active, acting as agent:inactive (which exists, in the same microDAO).
    return world["inactive"], world["home"], {"Authorization": f"Bearer {world['bound_token']}"}


@pytest.mark.parametrize("case", sorted(EXPECTED))
@pytest.mark.parametrize("api", sorted(APIS))
def test_every_api_answers_the_same(world, internal_headers, api, case):
    if case == "foreign_microdao" and api in NO_MICRODAO:
        pytest.skip("the tools API names no microDAO")
    agent_id, microdao_id, headers = _case(world, case, internal_headers)
    response = _send(api, agent_id, microdao_id, headers)
    status, error_type = EXPECTED[case]
    assert response["Content-Type"].startswith("application/json"), response.content
    error = response.json()["error"]
    ours = error["code"] if api.startswith("v1 ") else error["type"]
    assert (response.status_code, ours) == (status, error_type)


@pytest.mark.parametrize("api", sorted(APIS))
def test_the_active_agent_in_its_microdao_is_not_refused(world, internal_headers, api):
    response = _send(api, world["active"], world["home"], internal_headers)
    assert response.status_code not in (401, 403), response.content
    if response.status_code == 404:  # e.g. the unknown tool; never the agent
        assert response.json()["error"]["type"] != "agent_not_found"
