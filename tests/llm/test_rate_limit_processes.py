"""Per-agent rate limits hold exactly across two server processes sharing Redis."""

from __future__ import annotations

import time
from contextlib import ExitStack

import httpx
import pytest
from django_ratelimit.core import _get_window

from llm.models import UsageLog, UsageStatus
from tests.factories import AgentFactory
from tests.fakes.server import run_app_server
from tests.llm.factories import OfflineProviderFactory, make_route

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.slow]

LIMIT = 5
REQUESTS = 14


def _agent_id_far_from_a_window_edge() -> str:
    # django-ratelimit staggers windows per key; pick an id whose hourly window has > 2 min left,
    # so the count cannot reset during the test.
    for n in range(1000):
        agent_id = f"agent:ratelimited{n}"
        if _get_window(agent_id, 3600) - time.time() > 120:
            return agent_id
    raise AssertionError("no suitable agent id")


def test_rate_limit_is_exact_across_two_processes(server_env, internal_headers):
    agent = AgentFactory(id=_agent_id_far_from_a_window_edge(), rate_limit=f"{LIMIT}/h")
    make_route("gpt-4.1-mini", OfflineProviderFactory())
    body = {
        "model": "gpt-4.1-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"agent_id": agent.id},
    }
    with ExitStack() as stack:
        urls = [stack.enter_context(run_app_server(server_env)) for _ in range(2)]
        statuses = []
        with httpx.Client(timeout=30) as client:
            for i in range(REQUESTS):
                response = client.post(
                    f"{urls[i % 2]}/internal/llm/proxy", json=body, headers=internal_headers
                )
                statuses.append(response.status_code)
                if response.status_code == 429:
                    assert int(response.headers["Retry-After"]) >= 1
    # Servers stopped: their buffered usage rows were flushed on shutdown.
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == REQUESTS - LIMIT, statuses
    rows = UsageLog.objects.filter(agent_id=agent.id)
    assert rows.count() == REQUESTS
    assert rows.filter(status=UsageStatus.OK).count() == LIMIT
    assert rows.filter(error_type="rate_limited").count() == REQUESTS - LIMIT
