"""The offline development provider's tool use: choice by meaning through the default embedding
route, arguments from the schema and the agent's context, templated summaries of results."""

from __future__ import annotations

import orjson
import pytest

from llm import gateway  # noqa: F401  (loading the gateway hands its `embed` to the provider)
from llm.models import UsageLog
from llm.providers import offline_tools
from llm.providers.offline import build_reply
from tests.llm.factories import OfflineProviderFactory, make_route

SYSTEM = {"role": "system", "content": "You are agent agent:sofia of microDAO microdao:daarion."}
PROJECTS_LIST = {
    "type": "function",
    "function": {
        "name": "projects__list",
        "description": "List the projects of a microDAO with their latest tasks and when each "
        "was last updated. Use it for questions such as 'what's new in project X?'.",
        "parameters": {
            "type": "object",
            "properties": {
                "microdao_id": {"type": "string"},
                "query": {"type": ["string", "null"]},
            },
            "required": ["microdao_id", "query"],
        },
    },
}
TASK_CREATE = {
    "type": "function",
    "function": {
        "name": "task__create",
        "description": "Create a task in a project.",
        "parameters": {
            "type": "object",
            "properties": {"project_id": {"type": "string"}, "title": {"type": "string"}},
            "required": ["project_id", "title"],
        },
    },
}
RESULT = {
    "projects": [
        {
            "name": "Project X",
            "updated_at": "2026-11-20T16:45:00Z",
            "new_tasks": [{"title": "Draft the token model"}, {"title": "Review the proposal"}],
        },
        {"name": "Phase 3 launch", "updated_at": "2026-11-24T10:00:00Z", "new_tasks": []},
    ]
}


@pytest.fixture
def embed_route(transactional_db, settings):
    settings.MEMORY_DEFAULT_EMBEDDING_MODEL = "tool-embed"
    make_route("tool-embed", OfflineProviderFactory(), kind="embedding", dimensions=384)


@pytest.mark.django_db(transaction=True)
async def test_picks_the_matching_tool_through_the_default_embedding_route(
    embed_route, flush_usage
):
    messages = [SYSTEM, {"role": "user", "content": "What's new in project X?"}]
    params = {"tools": [TASK_CREATE, PROJECTS_LIST], "tool_choice": "auto"}
    reply = await build_reply(model="m", messages=messages, params=params)
    (call,) = reply["tool_calls"]
    assert call["function"]["name"] == "projects__list"
    args = orjson.loads(call["function"]["arguments"])
    assert args == {"microdao_id": "microdao:daarion", "query": None}
    assert reply["content"].startswith("[offline:m] Calling projects__list matched")
    assert reply == await build_reply(model="m", messages=messages, params=params)  # deterministic
    flush_usage()
    assert await UsageLog.objects.filter(kind="embedding", model="tool-embed").aexists()


@pytest.mark.django_db
async def test_below_the_threshold_no_tool_is_called(settings):
    settings.LLM_OFFLINE_TOOL_THRESHOLD = 0.99
    messages = [SYSTEM, {"role": "user", "content": "What's new in project X?"}]
    reply = await build_reply(model="m", messages=messages, params={"tools": [PROJECTS_LIST]})
    assert "tool_calls" not in reply
    assert "no tool matched (best projects__list" in reply["content"]


@pytest.mark.django_db
async def test_a_tool_whose_required_arguments_are_unknown_is_not_called():
    messages = [SYSTEM, {"role": "user", "content": "Create a task in a project"}]
    reply = await build_reply(model="m", messages=messages, params={"tools": [TASK_CREATE]})
    assert "tool_calls" not in reply
    assert "task__create: required arguments unknown" in reply["content"]


def test_fill_arguments_uses_context_ids_free_text_and_schema_hints():
    schema = {
        "properties": {
            "agent_id": {"type": "string"},
            "text": {"type": "string", "maxLength": 5},
            "limit": {"type": "integer", "minimum": 3},
            "mode": {"type": "string", "enum": ["a", "b"]},
        },
        "required": ["agent_id", "text", "limit", "mode"],
    }
    ids = offline_tools.conversation_ids([SYSTEM])
    assert ids == {"microdao": "microdao:daarion", "agent": "agent:sofia"}
    args = offline_tools.fill_arguments(schema, ids=ids, message="remind me")
    assert args == {"agent_id": "agent:sofia", "text": "remin", "limit": 3, "mode": "a"}
    assert offline_tools.fill_arguments(schema, ids={}, message="x") is None


def test_summary_names_the_asked_project_its_tasks_and_last_update():
    text = offline_tools.summarise_result(
        name="projects.list", result=RESULT, message="Що нового в проєкті X?"
    )
    assert text == (
        "projects.list: Project X — 2 new tasks: “Draft the token model”, "
        "“Review the proposal”; last update 2026-11-20 16:45 UTC."
    )
    both = offline_tools.summarise_result(name="p", result=RESULT, message="all projects?")
    assert "Project X" in both and "Phase 3 launch" in both


@pytest.mark.django_db
async def test_tool_results_and_errors_are_summarised_with_the_top_memory():
    messages = [
        {
            "role": "system",
            "content": "Sofia.\n\nRelevant memories and knowledge:\n- [long] X ships in May\n"
            "- [mid] older note",
        },
        {"role": "user", "content": "What's new in project X?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "projects__list"}},
                {"id": "b", "type": "function", "function": {"name": "time_now"}},
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "a",
            "content": orjson.dumps({"ok": True, "result": RESULT}).decode(),
        },
        {
            "role": "tool",
            "tool_call_id": "b",
            "content": '{"ok": false, "error": {"type": "timeout", "message": "too slow"}}',
        },
    ]
    reply = await build_reply(model="m", messages=messages, params={})
    content = reply["content"]
    assert content.startswith("[offline:m] projects.list: Project X — 2 new tasks")
    assert "time_now failed: timeout: too slow" in content
    assert content.endswith("Relevant memory: [long] X ships in May")
