"""The API input boundary (daarion/server/input_boundary.py): bad input is a JSON 4xx naming the
field, never a 500 and never a value that fails later at write or read time."""

from __future__ import annotations

import pytest
from django.test import Client

from memory.models import Memory
from tests.toolcore.factories import make_http_tool
from toolcore.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)
MEM = "/internal/agent-memory"


@pytest.fixture
def api(internal_headers):
    return Client(headers=internal_headers)


def _post(api, path, body, **kwargs):
    return api.post(path, body, content_type="application/json", **kwargs)


def _nested(depth: int) -> dict:
    value: dict = {"leaf": "x"}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def _store(text="hello", **extra):
    return {
        "agent_id": "agent:sofia",
        "microdao_id": "microdao:alpha",
        "kind": "conversation",
        "content": {"text": text},
        **extra,
    }


def _error(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()["error"]


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        ('{"agent_id": "agent:sofia", "microdao_id": "microdao:alpha",'
         ' "content": {"text": "a\\u0000b"}}', "content.text"),
        ('{"agent_id": "agent:sofia", "microdao_id": "microdao:alpha", "content": {"text": "x"},'
         ' "metadata": {"k\\u0000": 1}}', "metadata.k\\u0000"),
        ('{"agent_id": "agent:sofia", "microdao_id": "microdao:alpha", "content": {"text": "x"},'
         ' "metadata": {"tags": ["ok", "\\ud800"]}}', "metadata.tags.1"),
    ],
)  # fmt: skip
def test_nul_and_lone_surrogates_are_refused_naming_the_field(api, tenants, raw, loc):
    response = api.post(f"{MEM}/store", raw, content_type="application/json")
    error = _error(response, 422)
    assert error["loc"] == loc
    assert "NUL" in error["message"] or "surrogate" in error["message"]
    assert Memory.objects.count() == 0


def test_nul_in_llm_model_is_refused_before_the_gateway(api):
    response = _post(
        api,
        "/internal/llm/proxy",
        {"model": "m\x00", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert _error(response, 422)["loc"] == "model"


def test_memory_metadata_nested_300_deep_is_refused_at_store_time(api, tenants):
    response = _post(api, f"{MEM}/store", _store(metadata=_nested(300)))
    error = _error(response, 422)
    assert error["loc"].startswith("metadata") and "nested deeper than 64" in error["message"]
    assert Memory.objects.count() == 0


def test_tool_arguments_600_deep_are_refused_before_the_tool_runs(api, tool_server, agent):
    make_http_tool(tool_id="echo", url_template=f"{tool_server.url}/projects", grant_to=agent)
    body = {"tool_id": "echo", "agent_id": agent.id, "args": _nested(600)}
    response = _post(api, "/internal/tools/call", body)
    assert _error(response, 422)["loc"].startswith("args")
    assert tool_server.requests == [] and ToolCall.objects.count() == 0


def test_body_over_the_limit_is_413_json(api, settings):
    big = b'{"content": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b'"}'
    response = api.post(f"{MEM}/store", big, content_type="application/json")
    error = _error(response, 413)
    assert error["type"] == "payload_too_large" and error["limit"]


def test_multipart_without_boundary_is_400_json(api, tenants):
    response = api.post(
        f"{MEM}/documents/upload", b"--x\r\n\r\n", content_type="multipart/form-data"
    )
    assert "boundary" in _error(response, 400)["message"]


def test_malformed_json_is_400_json(api, tenants):
    response = api.post(f"{MEM}/store", b'{"content": ', content_type="application/json")
    assert _error(response, 400)["loc"] == "body"
    response = api.post(f"{MEM}/store", b'{"a": "\xff"}', content_type="application/json")
    assert _error(response, 400)["loc"] == "body"


def test_nul_in_query_path_and_form_fields_is_refused(api, tenants):
    listed = api.get(f"{MEM}/documents", {"microdao_id": "microdao:alpha\x00"})
    assert _error(listed, 422)["loc"] == "query.microdao_id"
    path = api.get("/internal/agents/agent:so%00fia")
    assert _error(path, 422)["loc"] == "path"
    upload = api.post(
        f"{MEM}/documents/upload",
        {"microdao_id": "microdao:alpha", "title": "t\x00", "file": _file(b"hello")},
    )
    assert _error(upload, 422)["loc"] == "form.title"


def test_nul_in_an_uploaded_document_is_refused(api, tenants):
    upload = api.post(
        f"{MEM}/documents/upload", {"microdao_id": "microdao:alpha", "file": _file(b"a\x00b")}
    )
    assert _error(upload, 422)["loc"] == "text"


def test_nul_in_a_daarion_header_is_refused(api, tenants):
    response = api.get(
        f"{MEM}/documents",
        {"microdao_id": "microdao:alpha"},
        headers={"X-DAARION-MicroDAO-ID": "microdao:\x00"},
    )
    assert _error(response, 422)["loc"] == "header.X-Daarion-Microdao-Id"


def test_good_requests_still_pass(api, tenants):
    response = _post(api, f"{MEM}/store", _store("ünïcödé ✓ 😀", metadata=_nested(20)))
    assert response.status_code == 200, response.content


def _file(data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("doc.md", data, content_type="text/markdown")
