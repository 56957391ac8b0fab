"""Durable usage rows committed from the event loop (llm/usage_lane.py), and its fallback."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from llm import gateway, usage, usage_lane
from llm.models import UsageLog
from llm.types import ChatRequest
from tests.llm.factories import OfflineProviderFactory, make_route
from tests.llm.helpers import db, usage_rows

pytestmark = pytest.mark.django_db(transaction=True)


def _request(text: str = "hi") -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": text}])


@pytest.fixture
def thread_inserts(monkeypatch) -> list[int]:
    """Row counts of the writer thread's INSERTs (the lane does not use it when healthy)."""
    calls: list[int] = []
    real_insert = usage.insert_rows

    def counting_insert(rows):
        calls.append(len(rows))
        return real_insert(rows)

    monkeypatch.setattr(usage, "insert_rows", counting_insert)
    return calls


def _committed_ids() -> set[str]:
    # A fresh query on another connection: sees only committed rows, flushes nothing.
    return set(UsageLog.objects.values_list("request_id", flat=True))


async def test_rows_are_committed_from_the_loop_before_the_answer(thread_inserts):
    await db(lambda: make_route("m", OfflineProviderFactory()))()
    results = await asyncio.gather(*(gateway.chat(_request(f"q{i}")) for i in range(40)))
    committed = await db(_committed_ids)()
    assert {r.request_id for r in results} <= committed
    assert thread_inserts == []  # every row went through the lane
    rows = await usage_rows()
    assert sorted(r.request_id for r in rows) == sorted(r.request_id for r in results)


def _terminate_backend(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


async def test_a_lost_lane_connection_hands_rows_to_the_writer_thread(thread_inserts):
    await db(lambda: make_route("m", OfflineProviderFactory()))()
    first = await gateway.chat(_request())
    lane = usage_lane._lanes[asyncio.get_running_loop()]
    assert lane.conn is not None
    await db(lambda: _terminate_backend(lane.conn.info.backend_pid))()
    second = await gateway.chat(_request())  # the lane's INSERT fails: the thread writes it
    assert thread_inserts == [1]
    assert second.request_id in await db(_committed_ids)()
    third = await gateway.chat(_request())  # and the lane reconnects for the next one
    assert thread_inserts == [1]
    rows = await usage_rows()
    assert [r.request_id for r in rows] == [first.request_id, second.request_id, third.request_id]


async def test_without_the_lane_rows_go_through_the_thread(settings, thread_inserts):
    settings.LLM_USAGE_LANE = False
    await db(lambda: make_route("m", OfflineProviderFactory()))()
    result = await gateway.chat(_request())
    assert thread_inserts == [1]
    assert [r.request_id for r in await usage_rows()] == [result.request_id]


def _row(request_id: str, **values) -> usage.UsageRow:
    import datetime as dt
    from decimal import Decimal

    defaults = {
        "created_at": dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC),
        "request_id": request_id,
        "kind": "chat",
        "agent_id": "agent:ä",
        "microdao_id": "microdao:x",
        "model": "m",
        "provider": "p",
        "physical_model": "pm",
        "attempts": [{"provider": "p", "outcome": "ok", "latency_ms": 1.25, "note": 'ü " \\'}],
        "attempt_count": 1,
        "fallback_used": True,
        "prompt_tokens": 27,
        "completion_tokens": 16,
        "total_tokens": 43,
        "latency_ms": 12.345678901,
        "cost_usd": Decimal("0.00003640"),
        "status": "ok",
        "error_type": "",
        "error_message": "line\nbreak 'quoted' 😀",
        "stream": True,
    }
    defaults.update(values)
    return usage.UsageRow(**defaults)


async def test_lane_rows_keep_every_value_exactly(thread_inserts):
    rows = [_row(f"exact-{i}") for i in range(3)]
    await asyncio.gather(*(usage_lane.usage_lane_record(row) for row in rows))
    assert thread_inserts == []
    stored = {r.request_id: r for r in await usage_rows()}
    for row in rows:
        got = stored[row.request_id]
        for name in usage._ROW_FIELDS:
            assert getattr(got, name) == getattr(row, name), name


async def test_lane_prepares_one_statement_for_every_batch_size(thread_inserts):
    await usage_lane.usage_lane_record(_row("one"))
    await asyncio.gather(*(usage_lane.usage_lane_record(_row(f"many-{i}")) for i in range(5)))
    lane = usage_lane._lanes[asyncio.get_running_loop()]
    assert lane.conn is not None
    cursor = await lane.conn.execute("SELECT statement FROM pg_prepared_statements")
    statements = [s for (s,) in await cursor.fetchall()]
    assert len(statements) == 1 and "jsonb_to_recordset" in statements[0]
    assert len(await usage_rows()) == 6


async def test_a_row_json_cannot_carry_goes_through_the_thread_sanitized(thread_inserts):
    await usage_lane.usage_lane_record(_row("surrogate", error_message="bad \ud800 text"))
    assert thread_inserts  # the lane could not encode it; the thread wrote it
    (stored,) = await usage_rows()
    assert stored.error_message == "bad \ufffd text"


def _client_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_type = 'client backend'"
        )
        return cursor.fetchone()[0]


def test_short_lived_loops_do_not_keep_lane_connections():
    """Sync code runs the gateway on a new loop per call (asyncio.run, async_to_sync: commands,
    db_worker jobs, the evals): each loop's lane connection is closed with the loop."""
    from asgiref.sync import async_to_sync

    make_route("m", OfflineProviderFactory())
    before = _client_backends()
    peak = before
    request_ids = []
    for i in range(200):
        if i % 2:
            result = asyncio.run(gateway.chat(_request(f"q{i}")))
        else:
            result = async_to_sync(gateway.chat)(_request(f"q{i}"))
        request_ids.append(result.request_id)
        peak = max(peak, _client_backends())
    # Closed connections' backends exit a moment later: a few may still be listed.
    assert peak - before < 20, (before, peak)
    assert not usage_lane._lanes  # and no lane is left behind for a closed loop
    committed = set(UsageLog.objects.values_list("request_id", flat=True))
    assert set(request_ids) <= committed
