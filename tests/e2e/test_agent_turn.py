"""One call to /internal/agents/{id}/respond runs the whole turn, for real, over sockets."""

from __future__ import annotations

import asyncio
import io
import types

import pytest
from django.core.management import call_command

from daarion.agents.models import Agent
from llm.models import UsageLog
from llm.usage import usage_flush
from memory.models import Memory
from tests.factories import AgentFactory, make_service_token
from tests.fakes.openai_upstream import COMPLETION_TOKENS, PROMPT_TOKENS
from toolcore.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Софіє, що нового в проєкті X?"  # "Sofia, what's new in project X?"


def _respond(client, headers, message, channel="chan-1", agent="agent:sofia", **extra):
    return client.post(
        f"/internal/agents/{agent}/respond",
        {"message": message, "channel_id": channel, **extra},
        content_type="application/json",
        headers=headers,
    )


def test_project_question_runs_tool_and_answers_from_its_data(
    client, internal_headers, sofia_world, scripted_llm, projects_service
):
    response = _respond(client, internal_headers, QUESTION, microdao_id="microdao:daarion")
    assert response.status_code == 200, response.content
    body = response.json()

    # the reply carries the tool's data: the three new tasks and the last update
    for title in (
        "Draft the token model",
        "Review the treasury proposal",
        "Schedule the community call",
    ):
        assert title in body["reply"]
    assert "2026-11-20T16:45:00Z" in body["reply"]

    # the tool ran through toolcore (permission-checked, audited) against the projects service
    assert [call["tool_id"] for call in body["tool_calls"]] == ["projects.list"]
    assert body["tool_calls"][0]["ok"] is True
    assert projects_service.requests[0]["query"]["microdao_id"] == "microdao:daarion"
    assert ToolCall.objects.filter(agent_id="agent:sofia").count() == 1

    # the model was offered the agent's tools, then given the tool result
    first, second = (request["body"] for request in scripted_llm.requests)
    assert any(t["function"]["name"].startswith("projects") for t in first["tools"])
    assert second["messages"][-1]["role"] == "tool"

    # usage logged for both LLM calls, costed
    usage_flush()
    chat_rows = UsageLog.objects.filter(agent_id="agent:sofia", kind="chat")
    assert chat_rows.count() == 2
    assert body["usage"]["llm_calls"] == 2
    assert body["usage"]["total_tokens"] == 2 * (PROMPT_TOKENS + COMPLETION_TOKENS)
    assert body["usage"]["cost_usd"] == pytest.approx(
        2 * (PROMPT_TOKENS * 2 + COMPLETION_TOKENS * 8) / 1_000_000
    )

    # the exchange is in memory
    stored = Memory.objects.filter(agent_id="agent:sofia", channel_id="chan-1")
    assert stored.count() >= 1
    assert any(QUESTION in memory.text and "Project X" in memory.text for memory in stored)
    assert body["degraded"] == []


def test_phase_3_is_remembered_across_channels(client, internal_headers, sofia_world):
    first = _respond(
        client, internal_headers, "Remember: Phase 3 started on Nov 24", channel="chan-a"
    )
    assert first.status_code == 200
    second = _respond(client, internal_headers, "When did Phase 3 start?", channel="chan-b")
    assert second.status_code == 200, second.content
    body = second.json()
    assert "Nov 24" in body["reply"]
    assert any("Phase 3 started on Nov 24" in item["text"] for item in body["memories_used"])


def test_tool_failure_is_fed_back_to_the_model(
    client, internal_headers, sofia_world, projects_service, scripted_llm
):
    projects_service.fail = True
    response = _respond(client, internal_headers, "What's new in project X?")
    assert response.status_code == 200
    body = response.json()
    assert body["tool_calls"][0]["ok"] is False
    assert body["tool_calls"][0]["error"]["type"] == "upstream_error"
    assert "tool failed: upstream_error" in body["reply"]
    assert ToolCall.objects.filter(agent_id="agent:sofia").count() == 1  # audited, failure too


def test_memory_outage_degrades_instead_of_failing(
    client, internal_headers, sofia_world, monkeypatch
):
    async def memory_down(**kwargs):
        raise ConnectionError("memory store unreachable")

    monkeypatch.setattr("daarion.runtime.turn.memory_query", memory_down)
    monkeypatch.setattr("daarion.runtime.turn.memory_store", memory_down)
    response = _respond(client, internal_headers, "Hello there")
    assert response.status_code == 200
    body = response.json()
    assert body["reply"] == "Noted."
    assert body["degraded"] == ["memory", "memory_store"]


def test_llm_outage_is_502_and_the_message_is_kept(
    client, internal_headers, sofia_world, scripted_llm
):
    scripted_llm.down = True
    response = _respond(client, internal_headers, "Is anyone there?", channel="chan-down")
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "upstream_error"
    assert error["degraded"] == ["llm"]
    assert error["message_stored"] is True
    kept = Memory.objects.filter(agent_id="agent:sofia", channel_id="chan-down")
    assert [memory.text for memory in kept] == ["User: Is anyone there?"]
    usage_flush()
    assert UsageLog.objects.filter(agent_id="agent:sofia", status="error").count() == 1


def test_llm_and_memory_outage_says_the_message_was_not_kept(
    client, internal_headers, sofia_world, scripted_llm, monkeypatch
):
    async def memory_down(**kwargs):
        raise ConnectionError("memory store unreachable")

    monkeypatch.setattr("daarion.runtime.turn.memory_query", memory_down)
    monkeypatch.setattr("daarion.runtime.turn.memory_store", memory_down)
    scripted_llm.down = True
    response = _respond(client, internal_headers, "Anyone?", channel="chan-all-down")
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "upstream_error"
    assert error["degraded"] == ["memory", "memory_store", "llm"]
    assert error["message_stored"] is False
    assert not Memory.objects.filter(channel_id="chan-all-down").exists()


def test_llm_down_with_memory_query_broken_still_keeps_the_message(
    client, internal_headers, sofia_world, scripted_llm, monkeypatch
):
    async def query_down(**kwargs):
        raise ConnectionError("memory index unreachable")

    monkeypatch.setattr("daarion.runtime.turn.memory_query", query_down)
    scripted_llm.down = True
    response = _respond(client, internal_headers, "Still there?", channel="chan-half-down")
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["degraded"] == ["memory", "llm"]
    assert error["message_stored"] is True
    kept = Memory.objects.filter(agent_id="agent:sofia", channel_id="chan-half-down")
    assert [memory.text for memory in kept] == ["User: Still there?"]


def test_slow_memory_times_out_and_the_turn_goes_on(
    client, internal_headers, sofia_world, monkeypatch, settings
):
    settings.RUNTIME_MEMORY_TIMEOUT_SECONDS = 0.05

    async def memory_hangs(**kwargs):
        await asyncio.sleep(30)  # cancelled by the timeout; without one the turn waits and
        late = {"id": 1, "tier": "short", "text": "too late", "score": None}  # uses this
        return types.SimpleNamespace(items=[late])

    monkeypatch.setattr("daarion.runtime.turn.memory_query", memory_hangs)
    response = _respond(client, internal_headers, "Hello there", channel="chan-slow")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reply"] == "Noted."
    assert body["degraded"] == ["memory"]
    assert body["memories_used"] == []
    # only the query timed out: the exchange is still remembered
    assert Memory.objects.filter(agent_id="agent:sofia", channel_id="chan-slow").exists()


@pytest.mark.parametrize(
    "payload,status",
    [
        ({"message": ""}, 422),
        ({"message": "   "}, 400),
        ({}, 422),
        ({"message": "hi", "microdao_id": "microdao:other"}, 403),  # agent_not_in_microdao
    ],
)
def test_bad_input_is_a_clear_4xx(client, internal_headers, sofia_world, payload, status):
    response = client.post(
        "/internal/agents/agent:sofia/respond",
        payload,
        content_type="application/json",
        headers=internal_headers,
    )
    assert response.status_code == status
    assert response.json()["error"]["message"]


def test_unknown_agent_is_404(client, internal_headers, sofia_world):
    assert _respond(client, internal_headers, "hi", agent="agent:nobody").status_code == 404


def test_bound_token_cannot_run_another_agents_turn(client, sofia_world):
    other = AgentFactory(id="agent:other", microdao=sofia_world["microdao"])
    _, raw = make_service_token(scopes=["agents"], agent=other)
    response = _respond(client, {"Authorization": f"Bearer {raw}"}, "hi")
    assert response.status_code == 403


def test_token_without_agents_scope_is_403(client, sofia_world):
    _, raw = make_service_token(scopes=["llm", "memory", "tools"])
    assert _respond(client, {"Authorization": f"Bearer {raw}"}, "hi").status_code == 403


def test_terminal_chat_shows_tool_calls_and_reply(sofia_world):
    out = io.StringIO()
    call_command(
        "chat", "agent:sofia", "--channel", "term-1", "-m", "What's new in project X?", stdout=out
    )
    text = out.getvalue()
    assert "→ tool projects" in text
    assert "← projects.list: ok" in text
    assert "agent> Project X has 3 new tasks" in text
    assert "2 LLM call(s)" in text


def test_offline_replies_are_not_remembered(client, internal_headers, sofia_world):
    # The demo's gpt-4.1-mini route ends at the offline provider (no API key in tests).
    Agent.objects.filter(pk="agent:sofia").update(default_model="gpt-4.1-mini")
    response = _respond(client, internal_headers, "Our retro is on Friday", channel="chan-off")
    assert response.status_code == 200, response.content
    assert response.json()["reply"].startswith("[offline:")
    kept = Memory.objects.filter(agent_id="agent:sofia", channel_id="chan-off")
    assert [memory.text for memory in kept] == ["User: Our retro is on Friday"]
