"""Issue 10 #2: tool arguments decided by the model pass the same input rules as API bodies. A
600-deep or NUL-carrying argument object is refused before the tool runs, reported back to the
model as a tool error, audited, and the turn answers 200 — over real HTTP to a scripted LLM."""

from __future__ import annotations

import orjson
import pytest

from tests.e2e.fakes import sofia_script
from toolcore.models import Outcome, ToolCall

pytestmark = pytest.mark.django_db(transaction=True)


def _deep(levels: int) -> str:
    return '{"microdao_id": "microdao:daarion", "query": ' + "[" * levels + "]" * levels + "}"


BAD_ARGUMENTS = {
    "600 deep": _deep(600),
    "NUL in a value": '{"microdao_id": "microdao:daarion", "query": "X\\u0000"}',
    "NUL in a key": '{"microdao_id": "microdao:daarion", "q\\u0000": "X"}',
    "lone surrogate": '{"microdao_id": "microdao:daarion", "query": "\\ud800"}',
}


@pytest.mark.parametrize("arguments", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_unstorable_model_arguments_are_a_tool_error_not_a_500(
    client, internal_headers, sofia_world, scripted_llm, projects_service, arguments
):
    def script(body: dict) -> dict:
        if any(m["role"] == "tool" for m in body["messages"]):
            return sofia_script(body)  # "The tool failed: <type>."
        name = next(
            t["function"]["name"] for t in body["tools"] if "projects" in t["function"]["name"]
        )
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}

    scripted_llm.script = script
    response = client.post(
        "/internal/agents/agent:sofia/respond",
        {
            "message": "What's new in project X?",
            "channel_id": "c",
            "microdao_id": "microdao:daarion",
        },
        content_type="application/json",
        headers=internal_headers,
    )
    assert response.status_code == 200, response.content[:2000]
    body = response.json()
    [record] = body["tool_calls"]
    assert record["ok"] is False and record["error"]["type"] == "invalid_args"
    assert body["reply"] == "The tool failed: invalid_args."
    assert projects_service.requests == []  # the tool did not run
    [audit] = ToolCall.objects.all()
    assert audit.outcome == Outcome.INVALID_ARGS
    orjson.dumps(audit.args)  # the audit row holds something renderable, not the hostile value
    # the model was told why
    tool_message = scripted_llm.requests[-1]["body"]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert "invalid_args" in tool_message["content"]
