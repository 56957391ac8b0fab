"""Issue 10 #3, "faults lose nothing": the database fails between a tool acting and its audit
row's completion — the completion is spooled to disk and written once the database is back.

The outage is real for this process (tests/outage/helpers.py: new connections go to a socket
folder that does not exist), taken down by the tool itself, i.e. exactly at completion time.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from tests.outage import helpers as outage
from tests.toolcore.factories import make_python_tool
from toolcore.audit_spool import (
    ToolCompletion,
    _encode,
    audit_spool_dir,
    audit_spool_replay_start,
)
from toolcore.models import Outcome, ToolCall
from toolcore.registry import python_tool, python_tool_unregister
from toolcore.schema import REDACTED
from toolcore.services import tool_call

pytestmark = pytest.mark.django_db(transaction=True)  # the replayer thread reads committed rows

SCHEMA = {
    "type": "object",
    "properties": {"password": {"type": "string"}},
    "additionalProperties": False,
}


def _spooled() -> list[Path]:
    return sorted(audit_spool_dir().glob("*.jsonl"))


def _wait_for(predicate, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def database_fails_when_the_tool_acts(agent):
    """A tool that acts, then the database goes down before its audit row is completed."""
    hosts: list[str] = []

    async def act_then_outage(ctx, password: str = ""):
        hosts.append(await sync_to_async(outage._down, thread_sensitive=False)())
        return {"acted": True}

    python_tool(name="t_act_outage", description="acts", input_schema=SCHEMA)(act_then_outage)
    make_python_tool(function_name="t_act_outage", grant_to=agent, input_schema=SCHEMA)
    yield hosts
    if hosts:  # (a failed test: bring the database back for the next one)
        outage._up(hosts[0])
    python_tool_unregister("t_act_outage")


async def test_a_completion_the_database_cannot_take_is_spooled_and_replayed(
    agent, database_fails_when_the_tool_acts
):
    hosts = database_fails_when_the_tool_acts
    result = await tool_call(
        agent_id=agent.id, tool_id="t_act_outage", args={"password": "hunter2-secret"}
    )
    assert hosts, "the tool did not run"
    # The tool acted: the caller gets its result although the audit could not be completed.
    assert result.ok and result.result == {"acted": True}, result.error
    files = _spooled()
    assert files, "the completion was not spooled to disk"
    line = json.loads(files[-1].read_bytes().splitlines()[-1])
    assert line["call_id"] == result.call_id and line["outcome"] == "ok"
    assert set(line) == {
        "call_id",
        "outcome",
        "error_message",
        "http_status",
        "attempts",
        "latency_ms",
    }  # never arguments or results
    assert b"hunter2" not in b"".join(f.read_bytes() for f in files)

    await sync_to_async(outage._up, thread_sensitive=False)(hosts.pop())

    def completed() -> bool:
        return ToolCall.objects.get(call_id=result.call_id).outcome != Outcome.STARTED

    await sync_to_async(_wait_for)(
        completed, "the audit row stayed 'started' after the database came back"
    )
    row = await ToolCall.objects.aget(call_id=result.call_id)
    assert row.outcome == Outcome.OK
    assert row.latency_ms == pytest.approx(result.latency_ms)
    assert row.args == {"password": REDACTED}
    assert await ToolCall.objects.acount() == 1
    await sync_to_async(_wait_for)(lambda: not _spooled(), "the spool segment was not deleted")


def test_a_spool_left_by_an_earlier_process_is_replayed_at_boot_and_only_onto_started_rows(agent):
    started = ToolCall.objects.create(
        agent_id=agent.id, requested_tool="t", outcome=Outcome.STARTED, latency_ms=0
    )
    done = ToolCall.objects.create(
        agent_id=agent.id, requested_tool="t", outcome=Outcome.OK, latency_ms=7, http_status=200
    )
    completions = [
        ToolCompletion(str(started.call_id), "upstream_error", "HTTP 502", 502, 2, 12.5),
        # A completion that got through already: the replay must not overwrite it.
        ToolCompletion(str(done.call_id), "timeout", "late", None, 1, 99.0),
        ToolCompletion(str(uuid.uuid4()), "ok", "", 200, 1, 1.0),  # (no such row: ignored)
        ToolCompletion(str(started.call_id), "ok", "", 200, 1, 1.0),  # replayed twice: once
    ]
    directory = audit_spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{time.time_ns():020d}-1-earlier.jsonl").write_bytes(
        b"".join(_encode(c) for c in completions) + b'{"call_id": "cut by a cra'
    )
    audit_spool_replay_start()  # what a starting server does
    _wait_for(lambda: not _spooled(), "the spool was not replayed")
    started.refresh_from_db()
    done.refresh_from_db()
    assert (started.outcome, started.error_message, started.http_status) == (
        "upstream_error",
        "HTTP 502",
        502,
    )
    assert (started.attempts, started.latency_ms) == (2, 12.5)
    assert (done.outcome, done.latency_ms, done.http_status) == ("ok", 7, 200)
