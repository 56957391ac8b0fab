from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_liveness(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_reports_database_pgvector_cache(client):
    response = client.get("/internal/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["pgvector"]["ok"] is True
    assert body["checks"]["pgvector"]["version"]
    assert body["checks"]["cache"]["ok"] is True


def test_readiness_reports_failure_as_503(client, settings):
    settings.DAARION_READINESS_CHECKS = [
        *settings.DAARION_READINESS_CHECKS,
        "tests.daarion.test_errors_and_health.failing_check",
    ]
    response = client.get("/internal/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["failing_check"] == {
        "ok": False,
        "error": "RuntimeError",
        "ms": body["checks"]["failing_check"]["ms"],
    }
    assert "boom-secret" not in response.content.decode()


def failing_check():
    raise RuntimeError("boom-secret")


@pytest.mark.parametrize("path", ["/internal/nope", "/internal/llm/nope", "/v1/nope", "/internal"])
def test_unknown_api_paths_are_json_404_with_credentials(client, internal_headers, path):
    response = client.get(path, headers=internal_headers)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == "not_found"


def test_wrong_method_is_json_405(client, internal_headers):
    response = client.delete("/internal/agents/agent:x", headers=internal_headers)
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "method_not_allowed"


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"})["X-Request-ID"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})[
        "X-Request-ID"
    ]
    assert generated != "bad id with spaces" and len(generated) == 32


def test_openapi_docs_are_for_staff_only(client, admin_client, internal_headers):
    assert client.get("/internal/docs", headers=internal_headers).status_code == 302
    assert admin_client.get("/internal/docs").status_code == 200
    schema = admin_client.get("/internal/openapi.json")
    assert schema.status_code == 200
    assert "/internal/agents/{agent_id}" in schema.json()["paths"]
