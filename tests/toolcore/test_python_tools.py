"""Python tools: registered functions only, deadlines, typed errors without internals."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from tests.toolcore.factories import call, make_python_tool
from toolcore.models import ToolCall
from toolcore.registry import ToolFailure, python_tool, python_tool_unregister
from toolcore.selectors import registry_cache

pytestmark = pytest.mark.django_db

EMPTY = {"type": "object", "properties": {}, "additionalProperties": False}


@pytest.fixture
def throwaway_tools():
    names: list[str] = []

    def register(name: str, fn, *, timeout: float | None = None, schema: dict | None = None):
        python_tool(name=name, description=name, input_schema=schema or EMPTY, timeout=timeout)(fn)
        names.append(name)

    yield register
    for name in names:
        python_tool_unregister(name)


def test_time_now(agent):
    make_python_tool(
        function_name="time_now",
        input_schema={"type": "object", "properties": {"timezone": {"type": "string"}}},
        grant_to=agent,
    )
    outcome = call(agent, "time_now", {"timezone": "Europe/Kyiv"})
    assert outcome.ok, outcome.error
    assert outcome.result["timezone"] == "Europe/Kyiv"
    assert outcome.result["utc_offset"] in ("+0200", "+0300")
    assert abs(outcome.result["unix"] - time.time()) < 60


def test_time_now_unknown_zone_is_invalid_args(agent):
    make_python_tool(
        function_name="time_now",
        input_schema={"type": "object", "properties": {"timezone": {"type": "string"}}},
        grant_to=agent,
    )
    outcome = call(agent, "time_now", {"timezone": "Mars/Olympus"})
    assert outcome.error.type == "invalid_args"
    assert "Mars/Olympus" in outcome.error.message and "IANA" in outcome.error.message


def test_whoami_gets_the_agent_context(agent):
    make_python_tool(function_name="whoami", grant_to=agent)
    outcome = call(agent, "whoami")
    assert outcome.result == {"agent_id": agent.id, "microdao_id": agent.microdao_id}


def test_exception_becomes_generic_error_without_internals(agent, throwaway_tools, caplog):
    async def explode(ctx):
        raise RuntimeError("db password=hunter2 at /srv/secret/path.py")

    throwaway_tools("t_explode", explode)
    make_python_tool(function_name="t_explode", grant_to=agent)
    with caplog.at_level(logging.ERROR, logger="toolcore"):
        outcome = call(agent, "t_explode")
    assert outcome.error.type == "upstream_error"
    assert "hunter2" not in outcome.error.message and "RuntimeError" not in outcome.error.message
    assert outcome.call_id in outcome.error.message
    assert "hunter2" in caplog.text  # the operator still gets the traceback in the log
    assert ToolCall.objects.get(call_id=outcome.call_id).outcome == "upstream_error"


def test_tool_failure_message_reaches_the_llm(agent, throwaway_tools):
    def refuse(ctx):
        raise ToolFailure("The calendar is read-only today.")

    throwaway_tools("t_refuse", refuse)
    make_python_tool(function_name="t_refuse", grant_to=agent)
    outcome = call(agent, "t_refuse")
    assert outcome.error.type == "upstream_error"
    assert outcome.error.message == "The calendar is read-only today."


def test_async_tool_timeout(agent, throwaway_tools):
    async def sleepy(ctx):
        await asyncio.sleep(5)

    throwaway_tools("t_sleepy", sleepy, timeout=0.2)
    make_python_tool(function_name="t_sleepy", grant_to=agent)
    started = time.monotonic()
    outcome = call(agent, "t_sleepy")
    assert outcome.error.type == "timeout"
    assert time.monotonic() - started < 3


def test_sync_tool_runs_in_a_thread_with_a_deadline(agent, throwaway_tools):
    def blocking(ctx):
        time.sleep(0.6)
        return "late"

    def quick(ctx, *, n: int):
        return {"double": n * 2}

    throwaway_tools("t_blocking", blocking)
    throwaway_tools(
        "t_quick",
        quick,
        schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    )
    make_python_tool(function_name="t_blocking", timeout_seconds=0.2, grant_to=agent)
    make_python_tool(
        function_name="t_quick",
        input_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        grant_to=agent,
    )
    assert call(agent, "t_blocking").error.type == "timeout"
    assert call(agent, "t_quick", {"n": 21}).result == {"double": 42}


def test_non_json_result_is_upstream_error(agent, throwaway_tools):
    async def weird(ctx):
        return {"when": object()}

    throwaway_tools("t_weird", weird)
    make_python_tool(function_name="t_weird", grant_to=agent)
    assert call(agent, "t_weird").error.type == "upstream_error"


def test_unregistered_function_is_disabled_and_unlisted(agent, throwaway_tools):
    from asgiref.sync import async_to_sync

    from toolcore.selectors import tools_for_agent

    async def gone(ctx):
        return 1

    throwaway_tools("t_gone", gone)
    make_python_tool(function_name="t_gone", grant_to=agent)
    python_tool_unregister("t_gone")  # e.g. the app that registered it is not installed
    registry_cache.invalidate()
    outcome = call(agent, "t_gone")
    assert outcome.error.type == "disabled"
    assert async_to_sync(tools_for_agent)(agent_id=agent.id) == []


def test_registry_refuses_bad_names_and_schemas():
    with pytest.raises(ValueError, match="must match"):
        python_tool(name="has.dot", description="x", input_schema=EMPTY)
    with pytest.raises(ValueError, match="invalid input schema"):
        python_tool(name="bad_schema", description="x", input_schema={"type": "nope"})


def test_arguments_the_function_does_not_take_are_invalid_args(agent):
    make_python_tool(function_name="whoami", grant_to=agent)  # schema allows any property
    outcome = call(agent, "whoami", {"x": 1})
    assert outcome.error.type == "invalid_args" and "'x'" in outcome.error.message
