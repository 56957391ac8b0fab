"""The usage writer keeps rows through database errors and never blocks answers for long."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import OperationalError

from llm import gateway, usage
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
