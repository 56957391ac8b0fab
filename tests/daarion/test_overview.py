"""The operator overview page: budgets, traffic chart, live provider health, top lists and the
memory backlog, each linking to the filtered admin list."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from llm.models import UsageLog
from memory.models import Memory
from tests.factories import AgentFactory, MicroDAOFactory
from tests.llm.factories import OfflineProviderFactory, ProviderFactory

pytestmark = pytest.mark.django_db


def _row(minutes_ago: int, **fields) -> UsageLog:
    values = {
        "created_at": timezone.now() - dt.timedelta(minutes=minutes_ago),
        "request_id": f"r{minutes_ago}",
        "agent_id": "agent:ov",
        "microdao_id": "microdao:ov",
        "model": "sofia-default",
        "provider": "offline",
        "physical_model": "offline-chat",
        "attempts": [{"provider": "offline", "outcome": "ok"}],
        "attempt_count": 1,
        "latency_ms": 40,
        "cost_usd": Decimal("1.5"),
        "status": "ok",
        **fields,
    }
    return UsageLog(**values)


@pytest.fixture
def world():
    # Usage rows are written by a background thread, so other tests' rows may be committed here.
    UsageLog.objects.all().delete()
    microdao = MicroDAOFactory(
        id="microdao:ov", name="Overview DAO", monthly_budget_usd=Decimal(10)
    )
    AgentFactory(id="agent:ov", microdao=microdao)
    OfflineProviderFactory(name="offline")
    ProviderFactory(name="flaky")
    failed_then_fallback = [
        {"provider": "flaky", "outcome": "timeout", "detail": "read timed out"},
        {"provider": "offline", "outcome": "ok"},
    ]
    UsageLog.objects.bulk_create(
        [
            _row(5),
            _row(70, attempts=failed_then_fallback, attempt_count=2, fallback_used=True),
            _row(130, status="error", error_type="timeout", cost_usd=Decimal(0)),
        ]
    )
    Memory.objects.create(microdao=microdao, text="not embedded yet", embedding_pending=True)
    return microdao


def test_overview_shows_budget_traffic_health_top_and_backlog(admin_client, world):
    response = admin_client.get("/admin/overview/")
    assert response.status_code == 200
    page = response.content.decode()
    budget = next(b for b in response.context["budgets"] if b["id"] == "microdao:ov")
    assert (budget["spent"], budget["share_pct"]) == (Decimal("3.0"), 30.0)
    assert "microdao_id=microdao%3Aov" in budget["usage_url"]
    assert response.context["totals"] == {"requests": 3, "errors": 1}
    assert page.count('class="req"') == 25  # 24 hourly buckets + the current hour
    assert 'class="err"' in page and 'class="latency"' in page
    flaky = next(p for p in response.context["providers"] if p["name"] == "flaky")
    assert flaky["last_error"]["outcome"] == "timeout"  # a failing fallback shows up
    assert flaky["last_ok_at"] is None
    offline = next(p for p in response.context["providers"] if p["name"] == "offline")
    assert offline["health"] == "ok" and offline["last_ok_at"] is not None  # not "unknown"
    assert response.context["top_agents"][0]["name"] == "agent:ov"
    assert response.context["backlog"]["pending_embeddings"] == 1
    assert "embedding_pending__exact=1" in page


def test_overview_links_open_filtered_lists(admin_client, world):
    context = admin_client.get("/admin/overview/?window=7d").context
    for url in (
        context["budgets"][0]["usage_url"],
        context["errors_url"],
        context["providers"][0]["usage_url"],
        context["top_agents"][0]["url"],
        context["top_models"][0]["url"],
        context["pending_url"],
        context["failed_jobs_url"],
        context["running_jobs_url"],
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    errors = admin_client.get(context["errors_url"])
    assert errors.context["cl"].result_count == 1


def test_view_site_and_index_lead_to_the_overview(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert 'href="/admin/overview/"' in index
    assert "Operator overview" in index
    assert admin_client.get("/admin/overview/?window=bogus").status_code == 200
