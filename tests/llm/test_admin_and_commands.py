"""Admin (write-only keys, test action, usage log, report with chart and CSV), management
commands, /metrics and readiness."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from llm.models import HealthState, Provider, ProviderKey, UsageLog
from tests.fakes.openai_upstream import fake_upstream
from tests.fakes.server import free_port
from tests.llm.factories import OfflineProviderFactory, ProviderFactory, make_route

SECRET = "sk-admin-secret-value-ABCDEFGH12345678"


@pytest.fixture
def staff_client(db):
    user = get_user_model().objects.create_superuser("boss", password="pw-12345678")
    client = Client()
    client.force_login(user)
    return client


def _inline_management(prefix: str, total: int, initial: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_provider_key_is_write_only_and_masked_in_admin(staff_client):
    response = staff_client.post(
        "/admin/llm/provider/add/",
        {
            "name": "openai-main",
            "kind": "openai",
            "base_url": "",
            "timeout_seconds": "30",
            "enabled": "on",
            **_inline_management("keys", 1, 0),
            "keys-0-label": "prod",
            "keys-0-new_secret": SECRET,
            "keys-0-is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = Provider.objects.get(name="openai-main")
    key = provider.keys.get()
    assert key.secret == SECRET and key.last4 == SECRET[-4:]
    raw_column = ProviderKey.objects.filter(pk=key.pk).values_list("secret", flat=True)
    assert SECRET not in str(list(raw_column.query.sql_with_params()))
    page = staff_client.get(f"/admin/llm/provider/{provider.pk}/change/").content.decode()
    assert SECRET not in page and SECRET[:-4] not in page
    assert "••••••••" + SECRET[-4:] in page
    # Saving again with the secret field empty keeps the stored key.
    response = staff_client.post(
        f"/admin/llm/provider/{provider.pk}/change/",
        {
            "name": "openai-main",
            "kind": "openai",
            "base_url": "",
            "timeout_seconds": "30",
            "enabled": "on",
            **_inline_management("keys", 1, 1),
            "keys-0-id": str(key.pk),
            "keys-0-provider": str(provider.pk),
            "keys-0-label": "prod-renamed",
            "keys-0-new_secret": "",
            "keys-0-is_active": "on",
        },
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.secret == SECRET and key.label == "prod-renamed"
    listing = staff_client.get("/admin/llm/provider/").content.decode()
    assert SECRET not in listing and "OpenAI" in listing


def test_offline_kind_is_labelled_for_development(staff_client):
    OfflineProviderFactory()
    page = staff_client.get("/admin/llm/provider/").content.decode()
    assert "for development" in page


def test_test_provider_action_reports_ok_and_failure(staff_client):
    with fake_upstream() as (url, _):
        good = ProviderFactory(name="good", base_url=url)
        make_route("r", good, physical_model="fast")
        bad = ProviderFactory(name="bad", base_url=f"http://127.0.0.1:{free_port()}/v1")
        ProviderKey.objects.create(provider=bad, secret=SECRET)
        response = staff_client.post(
            "/admin/llm/provider/",
            {"action": "test_providers", "_selected_action": [good.pk, bad.pk]},
            follow=True,
        )
    page = response.content.decode()
    assert "Good: OK" in page and "Bad: FAILED" in page and "connection failed" in page
    assert SECRET not in page
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.health_state == HealthState.OK and bad.health_state == HealthState.FAILING


def _log(**fields) -> UsageLog:
    defaults = {"request_id": "r", "model": "m", "provider": "p", "status": "ok"}
    return UsageLog.objects.create(**{**defaults, **fields})


@pytest.fixture
def usage(db):
    now = timezone.now()
    for latency in (10, 20, 30, 40, 1000):
        _log(
            model="alpha",
            agent_id="agent:a",
            latency_ms=latency,
            total_tokens=10,
            prompt_tokens=6,
            completion_tokens=4,
            cost_usd=Decimal("0.001"),
        )
    _log(
        model="beta",
        agent_id="agent:b",
        status="error",
        error_type="timeout",
        latency_ms=5,
        created_at=now - dt.timedelta(days=2),
    )
    _log(model="old", created_at=now - dt.timedelta(days=60))


def test_usage_log_admin_is_read_only_with_date_hierarchy(staff_client, usage):
    page = staff_client.get("/admin/llm/usagelog/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Usage report" in html and "Add usage log" not in html
    assert staff_client.get("/admin/llm/usagelog/?created_at__year=2020").status_code == 200
    assert staff_client.get("/admin/llm/usagelog/?status__exact=error").status_code == 200
    assert staff_client.get("/admin/llm/usagelog/add/").status_code == 403


def test_usage_report_page_table_chart_and_csv(staff_client, usage):
    page = staff_client.get("/admin/llm/usagelog/report/?group_by=model&since=30d&chart=requests")
    assert page.status_code == 200
    html = page.content.decode()
    bars = re.findall(r'<rect class="bar" data-group="([^"]+)" data-value="([^"]+)"', html)
    assert sorted(bars) == [("alpha", "5.0"), ("beta", "1.0")]  # "old" is out of range
    assert "<td>alpha</td><td>5</td><td>0</td>" in html
    exported = staff_client.get(
        "/admin/llm/usagelog/report/?group_by=model&since=30d&chart=requests&format=csv"
    )
    assert exported["Content-Type"] == "text/csv"
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO(exported.content.decode()))}
    assert rows["alpha"]["requests"] == "5" and rows["alpha"]["latency_p50_ms"] == "30.0"
    assert float(rows["alpha"]["latency_p95_ms"]) == pytest.approx(808.0)
    assert Decimal(rows["alpha"]["cost_usd"]) == Decimal("0.005")
    assert rows["beta"]["error_rate"] == "1.0"
    invalid = staff_client.get("/admin/llm/usagelog/report/?group_by=model&since=soon")
    assert invalid.status_code == 200 and "--since must look like" in invalid.content.decode()


def test_usage_report_command_table_and_csv(usage):
    out = io.StringIO()
    call_command("usage_report", "--since", "7d", "--group-by", "agent", stdout=out)
    table = out.getvalue()
    assert table.splitlines()[0].split()[:3] == ["group", "requests", "errors"]
    assert "agent:a" in table and "agent:b" in table
    out = io.StringIO()
    call_command(
        "usage_report", "--since", "90d", "--group-by", "day", "--format", "csv", stdout=out
    )
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert sum(int(r["requests"]) for r in rows) == 7
    with pytest.raises(CommandError):
        call_command("usage_report", "--since", "yesterday-ish")


@pytest.mark.django_db
def test_check_providers_command():
    with fake_upstream() as (url, _):
        make_route("r", ProviderFactory(name="up", base_url=url), physical_model="fast")
        OfflineProviderFactory()
        out = io.StringIO()
        call_command("check_providers", stdout=out)
        assert "ok   up" in out.getvalue() and "ok   offline" in out.getvalue()
        ProviderFactory(name="down", base_url=f"http://127.0.0.1:{free_port()}/v1")
        with pytest.raises(CommandError, match="down"):
            call_command("check_providers", stdout=io.StringIO())
    assert Provider.objects.get(name="down").health_state == HealthState.FAILING


@pytest.mark.django_db(transaction=True)
def test_metrics_and_readiness_after_requests(internal_headers):
    make_route("gpt-4.1-mini", OfflineProviderFactory())
    client = Client()
    for _ in range(3):
        response = client.post(
            "/internal/llm/proxy",
            {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]},
            content_type="application/json",
            headers=internal_headers,
        )
        assert response.status_code == 200
    client.post(
        "/internal/llm/proxy",
        {"model": "nope", "messages": [{"role": "user"}]},
        content_type="application/json",
        headers=internal_headers,
    )
    text = client.get("/metrics").content.decode()
    labels = 'kind="chat",route="gpt-4.1-mini",provider="offline",status="ok"'
    assert f"llm_requests_total{{{labels}}} 3" in text
    assert 'llm_errors_total{route="nope",provider="",error_type="model_not_found"} 1' in text
    assert (
        'llm_request_duration_seconds_bucket{route="gpt-4.1-mini",provider="offline",le="+Inf"} 3'
        in text
    )
    assert 'llm_tokens_total{route="gpt-4.1-mini",provider="offline",direction="prompt"}' in text
    assert 'llm_provider_up{provider="offline"} 1' in text
    health = client.get("/internal/health").json()
    assert health["checks"]["providers"]["providers"]["offline"]["state"] in ("ok", "unknown")
    assert health["checks"]["providers"]["ok"] is True


def test_embedding_route_targets_must_share_dimensions(staff_client):
    offline = OfflineProviderFactory()
    other = ProviderFactory(name="other")

    def post(dims_a: str, dims_b: str):
        return staff_client.post(
            "/admin/llm/modelroute/add/",
            {
                "name": "embed-x",
                "kind": "embedding",
                "description": "",
                "enabled": "on",
                **_inline_management("targets", 2, 0),
                "targets-0-provider": str(offline.pk),
                "targets-0-physical_model": "hash",
                "targets-0-priority": "1",
                "targets-0-weight": "1",
                "targets-0-input_price_per_1m": "0",
                "targets-0-output_price_per_1m": "0",
                "targets-0-dimensions": dims_a,
                "targets-0-enabled": "on",
                "targets-1-provider": str(other.pk),
                "targets-1-physical_model": "text-embedding-3-small",
                "targets-1-priority": "2",
                "targets-1-weight": "1",
                "targets-1-input_price_per_1m": "0.02",
                "targets-1-output_price_per_1m": "0",
                "targets-1-dimensions": dims_b,
                "targets-1-enabled": "on",
            },
        )

    mismatch = post("384", "1536")
    assert mismatch.status_code == 200
    assert "same dimensions" in mismatch.content.decode()
    assert post("384", "384").status_code == 302
