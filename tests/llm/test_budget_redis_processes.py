"""Issue 10 #6 across processes: two servers sharing Redis hold a microDAO's budget together.

10 concurrent $1.50 requests on a $5 budget, split over two uvicorn processes whose reservations
meet in Redis (one Lua script checks and reserves atomically): at most 4 go through (overspend at
most one request), every reservation is given back once the requests are done, and the spend in
the usage rows is exactly 1.50 per admitted request. With per-process reservations each server
would admit up to 4 on its own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from decimal import Decimal

import httpx
import pytest
import redis

from llm.models import UsageLog, UsageStatus
from tests.factories import AgentFactory
from tests.fakes.openai_upstream import COMPLETION_TOKENS, fake_upstream
from tests.fakes.server import run_app_server
from tests.llm.factories import ProviderFactory, make_route

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.slow]

BUDGET = Decimal(5)
OUTPUT_PRICE = Decimal("214285.714286")  # 7 completion tokens cost $1.50
REQUESTS = 10


def test_ten_concurrent_requests_over_two_processes_cannot_overspend(server_env, internal_headers):
    agent = AgentFactory()
    agent.microdao.monthly_budget_usd = BUDGET
    agent.microdao.save()
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "Hello!"}],
        "max_tokens": COMPLETION_TOKENS,
        "metadata": {"agent_id": agent.id},
    }
    with fake_upstream() as (url, state), ExitStack() as stack:
        state.slow_seconds = 3.0  # every request is admitted before any is accounted
        make_route("m", kind="chat").targets.create(
            provider=ProviderFactory(base_url=url),
            physical_model="slow",
            input_price_per_1m=Decimal(0),
            output_price_per_1m=OUTPUT_PRICE,
        )
        urls = [stack.enter_context(run_app_server(server_env, timeout=60)) for _ in range(2)]
        with httpx.Client(timeout=60) as client:
            for base in urls:  # warm the registries: admission is what races below
                client.get(f"{base}/internal/health")

            def ask(i: int) -> httpx.Response:
                return client.post(
                    f"{urls[i % 2]}/internal/llm/proxy", json=body, headers=internal_headers
                )

            with ThreadPoolExecutor(REQUESTS) as pool:
                responses = list(pool.map(ask, range(REQUESTS)))
        client_redis = redis.Redis.from_url(server_env["REDIS_URL"])
        reserved_keys = client_redis.keys(f"{server_env['CACHE_KEY_PREFIX']}:*budget-reserved*")
        reserved_left = [Decimal(client_redis.get(key).decode()) for key in reserved_keys]
    statuses = [r.status_code for r in responses]
    refused = [r for r in responses if r.status_code != 200]
    through = len(statuses) - len(refused)
    print(f"\n{REQUESTS} concurrent $1.50 requests on a $5 budget over 2 processes: {statuses}")
    assert through <= 4, statuses  # overspend at most one request
    assert through >= 1
    assert all(r.json()["error"]["type"] == "budget_exceeded" for r in refused), refused
    assert reserved_keys  # the reservations did go through Redis
    assert all(abs(value) < Decimal("0.000001") for value in reserved_left), reserved_left
    rows = UsageLog.objects.filter(agent_id=agent.id)
    ok = rows.filter(status=UsageStatus.OK)
    assert ok.count() == through
    assert all(cost == Decimal("1.50000000") for cost in ok.values_list("cost_usd", flat=True))
    assert rows.filter(error_type="budget_exceeded").count() == len(refused)
