"""Issue 10 #6: a monthly budget holds under concurrency (reservations at admission)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from llm import errors, gateway
from llm.providers.transport import close_clients
from llm.types import ChatRequest
from tests.factories import AgentFactory
from tests.fakes.openai_upstream import COMPLETION_TOKENS, fake_upstream
from tests.llm.factories import ProviderFactory, make_route
from tests.llm.helpers import db, usage_rows

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = Decimal(5)
# 7 completion tokens at this price (prompt free) cost $1.50 (to the 8th decimal).
OUTPUT_PRICE = Decimal("214285.714286")


@pytest.fixture(autouse=True)
async def _close_http_clients():
    yield
    await close_clients()


async def _setup(url: str):
    agent = await db(AgentFactory)()

    def build():
        agent.microdao.monthly_budget_usd = BUDGET
        agent.microdao.save()
        provider = ProviderFactory(base_url=url)
        make_route("m", kind="chat").targets.create(
            provider=provider,
            physical_model="slow",  # the fake upstream answers after `slow_seconds`
            input_price_per_1m=Decimal(0),
            output_price_per_1m=OUTPUT_PRICE,
        )

    await db(build)()
    return agent


def _ask(agent) -> ChatRequest:
    return ChatRequest(
        model="m",
        messages=[{"role": "user", "content": "Hello!"}],
        agent_id=agent.id,
        params={"max_tokens": COMPLETION_TOKENS},
    )


async def test_ten_concurrent_requests_cannot_overspend():
    with fake_upstream() as (url, state):
        state.slow_seconds = 0.3  # every request is admitted before any is accounted
        agent = await _setup(url)
        results = await asyncio.gather(
            *(gateway.chat(_ask(agent)) for _ in range(10)), return_exceptions=True
        )
    through = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, errors.BudgetExceeded)]
    assert len(through) + len(refused) == 10, results
    assert through[0].cost_usd == Decimal("1.50000000")
    print(f"\n10 concurrent $1.50 requests on a $5 budget: {len(through)} through")
    assert len(through) <= 4  # overspend at most one request
    spent = sum((r.cost_usd for r in through), Decimal(0))
    assert spent < BUDGET + Decimal("1.50")
    rows = await usage_rows()
    assert sorted(r.status for r in rows) == ["error"] * len(refused) + ["ok"] * len(through)


async def test_reservations_are_released_after_each_request():
    """Sequential requests are not held back by reservations of finished ones."""
    with fake_upstream() as (url, state):
        state.slow_seconds = 0
        agent = await _setup(url)
        through = 0
        for _ in range(5):
            try:
                await gateway.chat(_ask(agent))
                through += 1
            except errors.BudgetExceeded:
                break
    assert through == 4  # 0, 1.5, 3.0, 4.5 spent: each under $5 when admitted
