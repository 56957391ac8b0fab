"""Every model registered in admin: changelist (with a search), add page and a change page load."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse

from tests.factories import AgentFactory, make_service_token

pytestmark = pytest.mark.django_db


def _registered():
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()]


@pytest.fixture
def some_rows():
    agent = AgentFactory(id="agent:sofia")
    make_service_token(agent=agent)


@pytest.mark.parametrize(
    "model,model_admin", _registered(), ids=lambda v: getattr(v, "__name__", "")
)
def test_admin_pages_load(admin_client, admin_user, rf, some_rows, model, model_admin):
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert admin_client.get(changelist).status_code == 200
    if model_admin.search_fields:
        assert admin_client.get(changelist, {"q": "sofia"}).status_code == 200
    request = rf.get("/")
    request.user = admin_user
    if model_admin.has_add_permission(request):
        add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        assert admin_client.get(add).status_code == 200
    obj = model._default_manager.first()
    if obj is not None:
        change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
        assert admin_client.get(change).status_code == 200


def test_admin_is_branded(admin_client):
    assert "DAARION" in admin_client.get("/admin/").content.decode()


def test_service_token_created_in_admin_is_shown_once(admin_client):
    from daarion.agents.models import ServiceToken

    response = admin_client.post(
        reverse("admin:agents_servicetoken_add"), {"name": "runtime", "scopes": ["llm", "memory"]}
    )
    assert response.status_code == 200
    token = ServiceToken.objects.get(name="runtime")
    html = response.content.decode()
    assert token.prefix in html and "will not be shown again" in html
    assert "no-store" in response["Cache-Control"]
    change = admin_client.get(reverse("admin:agents_servicetoken_change", args=[token.pk]))
    assert token.token_hash not in change.content.decode()
    listing = admin_client.get(reverse("admin:agents_servicetoken_changelist")).content.decode()
    raw_start = html.split('id="raw-token"')[1].split(">")[1].split("<")[0]
    assert (
        raw_start.startswith("dst_")
        and raw_start not in listing
        and raw_start not in change.content.decode()
    )


def test_agent_rate_limit_is_validated(admin_client):
    agent = AgentFactory()
    url = reverse("admin:agents_agent_change", args=[quote(agent.pk)])
    data = {
        "id": agent.id,
        "microdao": agent.microdao_id,
        "display_name": "X",
        "system_prompt": "",
        "default_model": "m",
        "rate_limit": "ten per minute",
        "is_active": "on",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "rate must look like" in response.content.decode()
