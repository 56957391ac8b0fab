"""The usage writer keeps rows through database errors and never blocks answers for long."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DatabaseError, OperationalError
from django.utils import timezone

from daarion.common.errors import ApiError
from llm import gateway, usage
from llm.models import UsageDeadLetter, UsageLog
from llm.types import ChatRequest
from llm.usage import cost_usd, usage_flush
from tests.llm.factories import OfflineProviderFactory, make_route
from tests.llm.helpers import db, usage_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_cost_is_exact_decimal_per_million_tokens():
    cost = cost_usd(
        prompt_tokens=1234,
        completion_tokens=567,
        input_price_per_1m=Decimal("2.50"),
        output_price_per_1m=Decimal("10.00"),
    )
    assert cost == Decimal("0.008755")  # 1234 x 2.5e-6 + 567 x 1e-5
    assert cost_usd(
        prompt_tokens=1,
        completion_tokens=0,
        input_price_per_1m=Decimal("0.001"),
        output_price_per_1m=Decimal(0),
    ) == Decimal("0")  # rounds below 1e-8
    assert cost_usd(
        prompt_tokens=3,
        completion_tokens=0,
        input_price_per_1m=Decimal("0.005"),
        output_price_per_1m=Decimal(0),
    ) == Decimal("0.00000002")  # half-up


async def test_rows_survive_a_failing_insert_and_answers_are_not_held(monkeypatch, settings):
    settings.LLM_USAGE_DURABLE_TIMEOUT_SECONDS = 0.2
    settings.LLM_USAGE_LANE = False  # the writer thread itself (the lane: test_usage_lane.py)
    await db(lambda: make_route("m", OfflineProviderFactory()))()
    real_insert = usage.insert_rows
    failures = {"left": 2}

    def flaky_insert(rows):
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("database is restarting")
        return real_insert(rows)

    monkeypatch.setattr(usage, "insert_rows", flaky_insert)
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    result = await gateway.chat(request)  # answered although its row is not written yet
    assert result.message["content"]
    await db(lambda: usage_flush(timeout=10))()
    rows = await usage_rows()
    assert [r.request_id for r in rows] == [result.request_id]
    assert failures["left"] == 0


@pytest.mark.parametrize("field", ["model", "agent_id"])
async def test_a_nul_row_does_not_jam_the_writer(field, settings, caplog):
    """Issue 10 #1: one NUL (from an llm-scoped caller) used to fail every later batch."""
    settings.LLM_USAGE_DURABLE_TIMEOUT_SECONDS = 0.3
    await db(lambda: make_route("m", OfflineProviderFactory()))()
    messages = [{"role": "user", "content": "hi"}]
    poisoned = {"model": "m", "agent_id": None, field: "x\u0000y"}
    with pytest.raises((ApiError, DatabaseError)):  # refused; its row is queued all the same
        await gateway.chat(ChatRequest(messages=messages, **poisoned))
    for _ in range(100):
        await gateway.chat(ChatRequest(model="m", messages=messages))
    assert "not committed" not in caplog.text  # no request waited the durable timeout
    assert await db(lambda: usage_flush(timeout=10))()
    rows = await db(lambda: list(UsageLog.objects.all()))()
    assert len(rows) == 101
    poisoned_row = next(r for r in rows if r.status == "error")
    assert getattr(poisoned_row, field) == "xy"  # sanitized, not lost


async def test_a_row_the_database_refuses_goes_to_the_dead_letter_table(settings):
    def row(request_id: str, cost: Decimal) -> usage.UsageRow:
        return usage.UsageRow(
            created_at=timezone.now(),
            request_id=request_id,
            kind="chat",
            agent_id="",
            microdao_id="",
            model="m\ud800",  # a lone surrogate: cannot be encoded as UTF-8
            provider="",
            physical_model="",
            cost_usd=cost,
        )

    usage.usage_record(row("fine", Decimal("0.5")))
    usage.usage_record(row("overflow", Decimal(10) ** 12))  # > numeric(14, 8): unfixable
    usage.usage_record(row("fine-2", Decimal("0.25")))
    assert await db(lambda: usage_flush(timeout=10))()
    written = await db(lambda: sorted(UsageLog.objects.values_list("request_id", "model")))()
    assert written == [("fine", "m\ufffd"), ("fine-2", "m\ufffd")]
    dead = await db(lambda: list(UsageDeadLetter.objects.all()))()
    assert [d.request_id for d in dead] == ["overflow"]
    assert "numeric" in dead[0].reason
    assert '"request_id": "overflow"' in dead[0].payload


def test_a_spool_left_by_an_earlier_process_is_replayed_without_new_rows(settings, tmp_path):
    """Found by the real outage test: a restarted process replayed an earlier one's spool only
    if it spooled rows itself (durable rows go through the lanes, so it never did)."""
    import time

    from llm.usage_spool import _encode

    settings.LLM_USAGE_SPOOL_DIR = str(tmp_path)
    row = usage.UsageRow(
        created_at=timezone.now(),
        request_id="spooled-by-an-earlier-process",
        kind="chat",
        agent_id="",
        microdao_id="",
        model="m",
        provider="",
        physical_model="",
    )
    (tmp_path / f"{time.time_ns():020d}-1-earlier.jsonl").write_bytes(_encode(row))
    usage.usage_spool_replay_start()  # what a starting server does
    usage.usage_writer.start()  # (already running in this process: the same either way)
    deadline = time.monotonic() + 15
    while not UsageLog.objects.filter(request_id=row.request_id).exists():
        assert time.monotonic() < deadline, "the spool was not replayed"
        time.sleep(0.2)
    assert not list(tmp_path.glob("*.jsonl"))
