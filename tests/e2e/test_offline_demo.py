"""The keyless demo shows the whole flow: the offline development provider picks projects.list
by meaning (through the default embedding route), fills its arguments from Sofia's context, and
answers from the tool's data — over real sockets, with the demo's own registry and stand-in
projects service."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from daarion.server import demo_projects
from llm.models import UsageLog
from llm.usage import usage_flush
from toolcore.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Софіє, що нового в проєкті X?"  # "Sofia, what's new in project X?"
NEW_TASKS = ("Draft the token model", "Review the treasury proposal", "Schedule the community call")


@pytest.fixture
def keyless_demo(live_server, settings, monkeypatch):
    for name in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "OLLAMA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings.PROJECTS_SERVICE_URL = f"{live_server.url}/demo/projects-service"
    settings.TOOLCORE_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]  # live_server binds localhost
    demo_projects._state = None
    call_command("bootstrap_demo", stdout=io.StringIO())
    yield live_server
    demo_projects._state = None
    usage_flush()


def test_keyless_respond_calls_projects_list_and_names_tasks_and_last_update(
    client, internal_headers, keyless_demo, settings
):
    response = client.post(
        "/internal/agents/agent:sofia/respond",
        {"message": QUESTION, "channel_id": "demo"},
        content_type="application/json",
        headers=internal_headers,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [call["tool_id"] for call in body["tool_calls"]] == ["projects.list"], body["reply"]
    call = body["tool_calls"][0]
    assert call["ok"] is True, call
    # the microDAO from Sofia's context; optional (strict-mode nullable) arguments left empty
    assert call["args"] == {"microdao_id": "microdao:daarion", "query": None, "limit": None}
    reply = body["reply"]
    assert reply.startswith("[offline:offline-chat]")
    for title in NEW_TASKS:
        assert title in reply
    assert "Publish the roadmap" not in reply  # done, not new
    assert "Phase 3" not in reply  # the question named project X only
    assert "last update 2026-11-20 16:45 UTC" in reply
    assert "Relevant memory:" in reply  # the demo's knowledge base / past conversations
    assert ToolCall.objects.filter(agent_id="agent:sofia").count() == 1

    # the choice embedded through the default embedding route (a logged gateway call)
    usage_flush()
    assert UsageLog.objects.filter(
        kind="embedding", model=settings.MEMORY_DEFAULT_EMBEDDING_MODEL, status="ok"
    ).exists()


def test_keyless_chat_command_runs_the_same_flow(keyless_demo):
    out = io.StringIO()
    call_command("chat", "agent:sofia", "-m", QUESTION, stdout=out)
    text = out.getvalue()
    assert "projects.list" in text
    for title in NEW_TASKS:
        assert title in text


def test_small_talk_calls_no_tool_and_says_it_is_offline(client, internal_headers, keyless_demo):
    response = client.post(
        "/internal/agents/agent:sofia/respond",
        {"message": "Привіт!", "channel_id": "demo"},
        content_type="application/json",
        headers=internal_headers,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["tool_calls"] == []
    assert body["reply"].startswith("[offline:offline-chat]")
    assert "no tool matched" in body["reply"]
