"""Admin: tools with schema validation on save, write-only secret headers, grants inline on
tools and agents, read-only audit."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.urls import reverse

from tests.toolcore.conftest import SECRET
from tests.toolcore.factories import call, make_http_tool
from toolcore.models import Tool, ToolSecretHeader

pytestmark = pytest.mark.django_db

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}


def _formsets(**extra) -> dict:
    data = {}
    for prefix in ("secret_headers", "grants"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    data.update(extra)
    return data


def _tool_form(**overrides) -> dict:
    data = {
        "tool_id": "projects.search",
        "description": "Search projects.",
        "enabled": "on",
        "input_schema": json.dumps(SCHEMA),
        "output_schema": "null",
        "executor": "http",
        "timeout_seconds": "5",
        "retries": "0",
        "http_method": "GET",
        "url_template": "http://127.0.0.1:9/search",
        "headers": "{}",
        "python_function": "",
    }
    data.update(overrides)
    return data


def _add_with_secret(admin_client):
    data = _tool_form()
    data.update(
        _formsets(
            **{
                "secret_headers-TOTAL_FORMS": "1",
                "secret_headers-0-name": "Authorization",
                "secret_headers-0-value": f"Bearer {SECRET}",
            }
        )
    )
    response = admin_client.post(reverse("admin:toolcore_tool_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    return Tool.objects.get(tool_id="projects.search")


def test_add_tool_with_secret_header_stores_it_encrypted(admin_client):
    tool = _add_with_secret(admin_client)
    assert tool.openai_name == "projects__search" and tool.version == 1
    assert tool.secret_headers.get().value == f"Bearer {SECRET}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM toolcore_toolsecretheader")
        (stored,) = cursor.fetchone()
    assert stored.startswith("enc1:") and SECRET not in stored


def test_secret_is_never_rendered_and_blank_keeps_it(admin_client):
    tool = _add_with_secret(admin_client)
    change_url = reverse("admin:toolcore_tool_change", args=[tool.pk])
    html = admin_client.get(change_url).content.decode()
    assert SECRET not in html and "Authorization" in html and "(stored)" in html
    header = tool.secret_headers.get()
    data = _tool_form(description="Search projects by name.")
    data.update(
        _formsets(
            **{
                "secret_headers-TOTAL_FORMS": "1",
                "secret_headers-INITIAL_FORMS": "1",
                "secret_headers-0-id": str(header.pk),
                "secret_headers-0-tool": str(tool.pk),
                "secret_headers-0-name": "Authorization",
                "secret_headers-0-value": "",
            }
        )
    )
    response = admin_client.post(change_url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    tool.refresh_from_db()
    assert tool.version == 2  # definition changed
    assert ToolSecretHeader.objects.get(pk=header.pk).value == f"Bearer {SECRET}"
    data["secret_headers-0-value"] = "Bearer rotated-value-123456"
    assert admin_client.post(change_url, data).status_code == 302
    assert ToolSecretHeader.objects.get(pk=header.pk).value == "Bearer rotated-value-123456"


def test_invalid_schema_is_refused_on_save(admin_client):
    data = _tool_form(input_schema=json.dumps({"type": "object", "properties": {"q": {"type": 5}}}))
    data.update(_formsets())
    response = admin_client.post(reverse("admin:toolcore_tool_add"), data)
    assert response.status_code == 200
    assert "Invalid JSON Schema" in response.content.decode()
    assert not Tool.objects.exists()


def test_host_placeholder_is_refused_on_save(admin_client):
    data = _tool_form(url_template="http://{q}.example.com/x")
    data.update(_formsets())
    response = admin_client.post(reverse("admin:toolcore_tool_add"), data)
    assert response.status_code == 200
    assert "scheme and host are fixed" in response.content.decode()


def test_python_function_is_chosen_from_the_registry(admin_client):
    html = admin_client.get(reverse("admin:toolcore_tool_add")).content.decode()
    assert '<option value="time_now">time_now</option>' in html
    data = _tool_form(executor="python", python_function="os.system", tool_id="evil")
    data.update(_formsets())
    response = admin_client.post(reverse("admin:toolcore_tool_add"), data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_grants_inline_on_agent(admin_client, agent):
    tool = make_http_tool(url_template="http://127.0.0.1:9/x", grant_to=agent)
    html = admin_client.get(reverse("admin:agents_agent_change", args=[agent.pk])).content.decode()
    assert "Tools this agent may call" in html
    assert f'value="{tool.pk}" selected' in html


def test_audit_is_read_only_and_secret_free(admin_client, agent, tool_server):
    make_http_tool(
        url_template=f"{tool_server.url}/echo-headers",
        secret_headers={"X-Api-Key": SECRET},
        grant_to=agent,
    )
    outcome = call(agent, "echo_tool", {"q": f"leak {SECRET}"})
    changelist = admin_client.get(reverse("admin:toolcore_toolcall_changelist"))
    html = changelist.content.decode()
    assert changelist.status_code == 200 and SECRET not in html
    assert "toolcall/add/" not in html
    from toolcore.models import ToolCall

    row = ToolCall.objects.get(call_id=outcome.call_id)
    detail = admin_client.get(reverse("admin:toolcore_toolcall_change", args=[row.pk]))
    assert detail.status_code == 200
    assert SECRET not in detail.content.decode() and "[redacted]" in detail.content.decode()
    assert (
        admin_client.post(reverse("admin:toolcore_toolcall_delete", args=[row.pk])).status_code
        == 403
    )
    tool_page = admin_client.get(reverse("admin:toolcore_tool_change", args=[row.tool_id]))
    assert SECRET not in tool_page.content.decode()
