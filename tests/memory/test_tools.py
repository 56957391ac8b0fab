"""The built-in `memory_search` tool, called through toolcore as an agent would."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from memory.services import memory_store
from toolcore.services import python_tool_install, tool_call, tool_grant

pytestmark = pytest.mark.django_db(transaction=True)


def test_memory_search_finds_only_the_calling_agents_memories(tenants):
    python_tool_install(function_name="memory_search")
    for agent in ("agent:sofia", "agent:bohdan"):
        tool_grant(agent_id=agent, tool_id="memory_search")
    for agent, microdao in (("agent:sofia", "microdao:alpha"), ("agent:bohdan", "microdao:beta")):
        async_to_sync(memory_store)(
            agent_id=agent,
            microdao_id=microdao,
            channel_id="c",
            user_message=f"The compost rota of {agent}",
            agent_reply="Noted.",
        )
    call = async_to_sync(tool_call)
    result = call(agent_id="agent:sofia", tool_id="memory_search", args={"query": "compost rota"})
    assert result.ok, result.error
    texts = [item["text"] for item in result.result["items"]]
    assert texts == ["User: The compost rota of agent:sofia\nAgent: Noted."]
    other = call(agent_id="agent:bohdan", tool_id="memory_search", args={"query": "compost"})
    assert [i["text"] for i in other.result["items"]] == [
        "User: The compost rota of agent:bohdan\nAgent: Noted."
    ]
    bad = call(agent_id="agent:sofia", tool_id="memory_search", args={"query": "   "})
    assert not bad.ok and bad.error.type == "invalid_args" and "query" in bad.error.message
    schema = call(agent_id="agent:sofia", tool_id="memory_search", args={"limit": 3})
    assert not schema.ok and schema.error.type == "invalid_args"
