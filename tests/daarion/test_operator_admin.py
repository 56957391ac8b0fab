"""Admin dead ends removed: the agent's default model is chosen from chat routes and validated,
the usage report takes defaults for missing parameters, tokens show their status."""

from __future__ import annotations

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from daarion.agents.admin import AgentForm
from daarion.agents.models import ServiceToken
from daarion.agents.services import service_token_assign_secret, service_token_revoke
from tests.factories import AgentFactory
from tests.llm.factories import OfflineProviderFactory, make_route

pytestmark = pytest.mark.django_db


def _agent_form(agent, **changes) -> dict:
    return {
        "id": agent.id,
        "microdao": agent.microdao_id,
        "display_name": "Sofia",
        "system_prompt": "",
        "default_model": "sofia-default",
        "rate_limit": "60/m",
        "is_active": "on",
        **changes,
    }


def test_agent_default_model_must_be_an_enabled_chat_route(admin_client):
    provider = OfflineProviderFactory()
    make_route("sofia-default", provider)
    make_route("offline-embed", provider, kind="embedding", dimensions=384)
    agent = AgentFactory(default_model="sofia-default")
    url = reverse("admin:agents_agent_change", args=[quote(agent.pk)])

    page = admin_client.get(url).content.decode()
    assert '<select name="default_model"' in page and 'value="offline-embed"' not in page

    for bad in ("sofia-defualt", "offline-embed"):
        response = admin_client.post(url, _agent_form(agent, default_model=bad))
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode() or "not an enabled chat" in (
            response.content.decode()
        )
    agent.refresh_from_db()
    assert agent.default_model == "sofia-default"
    # (the change page also carries other apps' inlines; the form alone decides the field)
    assert AgentForm(data=_agent_form(agent), instance=agent).is_valid()
    assert not AgentForm(data=_agent_form(agent, default_model="nope"), instance=agent).is_valid()


def test_usage_report_fills_missing_parameters(admin_client):
    url = reverse("admin:llm_usagelog_report")
    for query in ("", "?group_by=", "?since=&chart=requests", "?group_by=model"):
        page = admin_client.get(url + query).content.decode()
        assert "This field is required" not in page, query
    bad = admin_client.get(url + "?since=yesterday-ish").content.decode()
    assert "Fix the parameters above" in bad and "No usage in this period" not in bad


def test_token_list_shows_status(admin_client):
    tokens = [ServiceToken(name="live", scopes=["llm"]), ServiceToken(name="gone", scopes=["llm"])]
    for token in tokens:
        service_token_assign_secret(token=token)
        token.save()
    service_token_revoke(token=tokens[1])
    url = reverse("admin:agents_servicetoken_changelist")
    page = admin_client.get(url).content.decode()
    assert ">active<" in page and ">revoked<" in page
    revoked_only = admin_client.get(url + "?status=revoked").context["cl"].result_count
    assert revoked_only == 1
