"""/internal/tools over HTTP: listing, calling, permissions, typed errors, secrets."""

from __future__ import annotations

import logging

import pytest

from tests.factories import AgentFactory, make_service_token
from tests.toolcore.conftest import SECRET
from tests.toolcore.factories import make_http_tool
from toolcore.models import ToolCall
from toolcore.services import tool_grant

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "properties": {
        "microdao_id": {"type": "string", "maxLength": 64},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
        "status": {"type": "string", "enum": ["open", "done"]},
    },
    "required": ["microdao_id"],
    "additionalProperties": False,
}


@pytest.fixture
def projects_tool(tool_server, agent):
    return make_http_tool(
        tool_id="projects.list",
        url_template=f"{tool_server.url}/projects",
        input_schema=SCHEMA,
        secret_headers={"Authorization": f"Bearer {SECRET}"},
        grant_to=agent,
    )


def _call(client, headers, **body):
    return client.post(
        "/internal/tools/call", data=body, content_type="application/json", headers=headers
    )


def test_old_request_shape_works(client, internal_headers, projects_tool, agent, tool_server):
    response = _call(
        client,
        internal_headers,
        tool_id="projects.list",
        agent_id=agent.id,
        args={"microdao_id": "microdao:7"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True and body["result"]["query"] == {"microdao_id": "microdao:7"}
    assert body["call_id"] and body["latency_ms"] >= 0
    assert ToolCall.objects.filter(call_id=body["call_id"], outcome="ok").exists()
    assert SECRET not in response.content.decode()


def test_list_native(client, internal_headers, projects_tool, agent):
    response = client.get(f"/internal/tools?agent_id={agent.id}", headers=internal_headers)
    assert response.status_code == 200
    tools = response.json()["tools"]
    assert [t["tool_id"] for t in tools] == ["projects.list"]
    assert tools[0]["name"] == "projects__list"
    assert tools[0]["input_schema"] == SCHEMA
    assert SECRET not in response.content.decode()
    assert "Authorization" not in response.content.decode()


def test_list_openai_is_strict_mode_compatible(client, internal_headers, projects_tool, agent):
    response = client.get(
        f"/internal/tools?agent_id={agent.id}&format=openai", headers=internal_headers
    )
    assert response.status_code == 200
    (tool,) = response.json()["tools"]
    assert tool["type"] == "function"
    function = tool["function"]
    assert function["name"] == "projects__list" and function["strict"] is True
    parameters = function["parameters"]
    assert parameters["additionalProperties"] is False
    assert sorted(parameters["required"]) == ["limit", "microdao_id", "status"]
    assert parameters["properties"]["limit"]["type"] == ["integer", "null"]
    assert parameters["properties"]["status"]["enum"] == ["open", "done", None]
    assert "maxLength" not in parameters["properties"]["microdao_id"]


def test_strict_mode_nulls_are_accepted_on_call(client, internal_headers, projects_tool, agent):
    response = _call(
        client,
        internal_headers,
        tool_id="projects__list",  # the name an LLM returns
        agent_id=agent.id,
        args={"microdao_id": "m", "limit": None, "status": None},
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"]["query"] == {"microdao_id": "m"}


def test_invalid_args_are_422_with_actionable_messages(
    client, internal_headers, projects_tool, agent, tool_server
):
    response = _call(
        client,
        internal_headers,
        tool_id="projects.list",
        agent_id=agent.id,
        args={"limit": "five", "colour": "red"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_args"
    assert "'microdao_id' is a required property" in error["message"]
    assert "args.limit" in error["message"] and "integer" in error["message"]
    assert "Allowed properties: limit, microdao_id, status" in error["message"]
    assert {e["path"] for e in error["errors"]} >= {"args", "args.limit"}
    assert not tool_server.requests
    assert ToolCall.objects.get(call_id=response.json()["call_id"]).outcome == "invalid_args"


def test_unknown_and_forbidden_tools_get_the_same_404(
    client, internal_headers, projects_tool, agent
):
    stranger = AgentFactory()
    forbidden = _call(
        client, internal_headers, tool_id="projects.list", agent_id=stranger.id, args={}
    )
    unknown = _call(client, internal_headers, tool_id="nope.list", agent_id=stranger.id, args={})
    assert forbidden.status_code == unknown.status_code == 404
    strip = lambda body: {k: v for k, v in body.items() if k not in ("call_id", "latency_ms")}  # noqa: E731
    forbidden_body = strip(forbidden.json())
    unknown_body = strip(unknown.json())
    forbidden_body["error"]["message"] = forbidden_body["error"]["message"].replace(
        "projects.list", "X"
    )
    unknown_body["error"]["message"] = unknown_body["error"]["message"].replace("nope.list", "X")
    assert forbidden_body == unknown_body
    assert forbidden_body["error"]["type"] == "not_found"
    outcomes = dict(
        ToolCall.objects.filter(agent_id=stranger.id).values_list("requested_tool", "outcome")
    )
    assert outcomes == {"projects.list": "permission_denied", "nope.list": "not_found"}


def test_forbidden_tool_is_not_listed(client, internal_headers, projects_tool):
    stranger = AgentFactory()
    response = client.get(f"/internal/tools?agent_id={stranger.id}", headers=internal_headers)
    assert response.json()["tools"] == []


def test_inactive_agent_sees_and_calls_nothing(client, internal_headers, projects_tool, agent):
    agent.is_active = False
    agent.save()
    listing = client.get(f"/internal/tools?agent_id={agent.id}", headers=internal_headers)
    assert listing.status_code == 403  # the one agent access policy
    assert listing.json()["error"]["type"] == "agent_inactive"
    response = _call(
        client,
        internal_headers,
        tool_id="projects.list",
        agent_id=agent.id,
        args={"microdao_id": "m"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "agent_inactive"


def test_disabled_tool(client, internal_headers, projects_tool, agent, tool_server):
    projects_tool.enabled = False
    from toolcore.services import tool_save

    tool_save(tool=projects_tool)
    listing = client.get(f"/internal/tools?agent_id={agent.id}", headers=internal_headers)
    assert listing.json()["tools"] == []
    response = _call(
        client,
        internal_headers,
        tool_id="projects.list",
        agent_id=agent.id,
        args={"microdao_id": "m"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "disabled"
    assert not tool_server.requests
    assert ToolCall.objects.get(call_id=response.json()["call_id"]).outcome == "disabled"


def test_timeout_is_504_and_upstream_failure_502(client, internal_headers, tool_server, agent):
    make_http_tool(
        tool_id="slow", url_template=f"{tool_server.url}/slow", timeout_seconds=0.2, grant_to=agent
    )
    make_http_tool(tool_id="fail", url_template=f"{tool_server.url}/fail", grant_to=agent)
    slow = _call(client, internal_headers, tool_id="slow", agent_id=agent.id, args={})
    fail = _call(client, internal_headers, tool_id="fail", agent_id=agent.id, args={})
    assert (slow.status_code, slow.json()["error"]["type"]) == (504, "timeout")
    assert (fail.status_code, fail.json()["error"]["type"]) == (502, "upstream_error")
    assert slow.json()["ok"] is False


def test_unknown_agent_listing_is_404(client, internal_headers):
    response = client.get("/internal/tools?agent_id=agent:ghost", headers=internal_headers)
    assert response.status_code == 404


def test_missing_agent_id_is_400(client, internal_headers):
    assert client.get("/internal/tools", headers=internal_headers).status_code == 400
    response = _call(client, internal_headers, tool_id="x", args={})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"agent_id": "agent:x", "args": {}},
        {"tool_id": "x", "agent_id": "agent:x", "args": [1, 2]},
        {"tool_id": "", "agent_id": "agent:x"},
    ],
)
def test_malformed_call_is_422_json(client, internal_headers, body):
    response = _call(client, internal_headers, **body)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/json"


def test_bad_format_is_422(client, internal_headers, agent):
    response = client.get(
        f"/internal/tools?agent_id={agent.id}&format=xml", headers=internal_headers
    )
    assert response.status_code == 422


def test_bound_token_acts_only_as_its_agent(client, projects_tool, agent, tool_server):
    other = AgentFactory()
    tool_grant(agent_id=other.id, tool_id="projects.list")
    _, raw = make_service_token(scopes=["tools"], agent=agent)
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get(f"/internal/tools?agent_id={other.id}", headers=headers).status_code == 403
    own = client.get("/internal/tools", headers=headers)
    assert own.status_code == 200 and own.json()["agent_id"] == agent.id
    denied = _call(client, headers, tool_id="projects.list", agent_id=other.id, args={})
    assert denied.status_code == 403
    allowed = _call(client, headers, tool_id="projects.list", args={"microdao_id": "m"})
    assert allowed.status_code == 200


def test_token_without_tools_scope_is_403(client, agent):
    _, raw = make_service_token(scopes=["llm"])
    response = client.get(
        f"/internal/tools?agent_id={agent.id}", headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 403


def test_no_credentials_is_401(client, agent):
    assert client.get(f"/internal/tools?agent_id={agent.id}").status_code == 401


def test_secret_never_in_responses_audit_or_logs(
    client, internal_headers, projects_tool, agent, tool_server, caplog
):
    caplog.set_level(logging.DEBUG)
    bodies = [
        _call(client, internal_headers, tool_id="projects.list", agent_id=agent.id, args=args)
        for args in ({"microdao_id": "m"}, {"limit": 0}, {"microdao_id": SECRET})
    ]
    bodies.append(client.get(f"/internal/tools?agent_id={agent.id}", headers=internal_headers))
    for response in bodies:
        assert SECRET not in response.content.decode()
    for row in ToolCall.objects.all():
        assert SECRET not in repr(row.args) + row.error_message
    assert SECRET not in caplog.text
    assert tool_server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    "template",
    [
        '{"tool_id": "projects.list", "agent_id": "%s", "args": {"microdao_id": "m", "x": NaN}}',
        '{"tool_id": "projects.li\\u0000st", "agent_id": "%s", "args": {}}',
        '{"tool_id": "projects.list", "agent_id": "%s", "args": {"microdao_id": "a\\u0000b"}}',
        '{"tool_id": "projects.list", "agent_id": "%s\\u0000", "args": {}}',
    ],
)
def test_hostile_json_never_500s_and_is_audited(
    client, internal_headers, projects_tool, agent, template
):
    response = client.post(
        "/internal/tools/call",
        data=template % agent.id,
        content_type="application/json",
        headers=internal_headers,
    )
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.content
    if "call_id" in response.json():
        assert ToolCall.objects.filter(call_id=response.json()["call_id"]).exists()


def test_malformed_agent_id_is_422(client, internal_headers):
    assert client.get("/internal/tools?agent_id=sofia", headers=internal_headers).status_code == 422
    response = _call(client, internal_headers, tool_id="x", agent_id="sofia", args={})
    assert response.status_code == 422 and "agent_id" in response.json()["error"]["message"]
