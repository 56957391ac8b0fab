"""Issue 10 #4/#5: chat keeps working from the caches while the database is down; its usage
rows are spooled to disk and written exactly once when the database is back."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from llm import gateway
from llm.models import UsageLog
from llm.types import ChatRequest
from llm.usage import usage_flush
from llm.usage_spool import spool_dir
from tests.factories import AgentFactory
from tests.llm.factories import OfflineProviderFactory, make_route
from tests.llm.helpers import db
from tests.outage.helpers import adatabase_down

pytestmark = pytest.mark.django_db(transaction=True)


def _spooled_files() -> list[Path]:
    return list(Path(spool_dir()).glob("*.jsonl"))


async def test_chat_works_during_an_outage_and_its_rows_arrive_once(settings):
    settings.LLM_BUDGET_REFRESH_SECONDS = 0  # every request re-reads the spend (fails: DB down)
    agent = await db(AgentFactory)()

    def setup():
        agent.microdao.monthly_budget_usd = Decimal(100)
        agent.microdao.save()
        route = make_route("m", OfflineProviderFactory())
        route.targets.update(input_price_per_1m=Decimal(1), output_price_per_1m=Decimal(1))

    await db(setup)()

    def ask() -> ChatRequest:
        return ChatRequest(
            model="m", messages=[{"role": "user", "content": "hi"}], agent_id=agent.id
        )

    before = await gateway.chat(ask())  # warms the registry, agent and budget caches
    async with adatabase_down():
        during = [await gateway.chat(ask()) for _ in range(3)]
        assert await sync_to_async(usage_flush)(timeout=10, spooled_ok=True)
        assert _spooled_files()  # on disk, not only in memory
    assert await sync_to_async(usage_flush)(timeout=15)  # replayed once the database answers
    ids = await db(lambda: list(UsageLog.objects.values_list("request_id", flat=True)))()
    expected = [before.request_id] + [r.request_id for r in during]
    assert sorted(ids) == sorted(expected)  # every answered request, exactly once
    assert not _spooled_files()
