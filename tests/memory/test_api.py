"""/internal/agent-memory over HTTP: the SPEC shapes, the old memory-orchestrator's, and 4xx."""

from __future__ import annotations

import pytest
from django.test import Client

from memory.models import Memory
from tests.factories import make_service_token

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/internal/agent-memory"


@pytest.fixture
def client(internal_headers):
    return Client(headers=internal_headers)


def _post(client, path, body, **kwargs):
    return client.post(f"{BASE}{path}", body, content_type="application/json", **kwargs)


def test_old_memory_orchestrator_shapes_work_unchanged(client, tenants):
    # The old service's store request, verbatim in shape (kind required there, optional here).
    stored = _post(
        client,
        "/store",
        {
            "agent_id": "agent:sofia",
            "microdao_id": "microdao:alpha",
            "channel_id": "dev-updates",
            "kind": "conversation",
            "content": {
                "user_message": "How do I start Phase 3?",
                "agent_reply": "First, copy PHASE3_MASTER_TASK.md into the repository.",
            },
            "metadata": {"channel_name": "dev-updates", "message_id": "msg-123"},
        },
    )
    assert stored.status_code == 200, stored.content
    body = stored.json()
    assert body["ok"] is True and body["id"] == body["ids"][0]
    assert body["pending_embedding"] is False
    # The old query request with kind_filter; the old response fields are all there.
    answered = _post(
        client,
        "/query",
        {
            "agent_id": "agent:sofia",
            "microdao_id": "microdao:alpha",
            "channel_id": "elsewhere",
            "query": "How to start phase 3?",
            "limit": 5,
            "kind_filter": ["conversation", "dao-event"],
        },
    )
    assert answered.status_code == 200, answered.content
    data = answered.json()
    assert data["total"] == 1 and data["query"] == "How to start phase 3?"
    item = data["items"][0]
    assert item["id"] == body["id"] and item["kind"] == "conversation"
    assert "PHASE3_MASTER_TASK.md" in item["content"] and item["content"] == item["text"]
    assert (
        item["meta"] == item["metadata"] == {"channel_name": "dev-updates", "message_id": "msg-123"}
    )
    assert 0 < item["score"] <= 1 and item["tier"] == "mid" and item["created_at"]
    assert set(data["timing_ms"]) >= {"embed", "search", "total"}
    # The old summarize endpoint.
    summary = _post(
        client, "/summarize", {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha"}
    )
    assert summary.status_code == 200
    assert summary.json()["items_processed"] == 1
    assert "PHASE3_MASTER_TASK.md" in summary.json()["summary"]


def test_old_structured_content_without_user_message_is_stored_as_text(client, tenants):
    response = _post(
        client,
        "/store",
        {
            "agent_id": "agent:sofia",
            "microdao_id": "microdao:alpha",
            "kind": "dao-event",
            "content": {"text": "Proposal 12 passed", "votes_for": 31},
        },
    )
    assert response.status_code == 200, response.content
    memory = Memory.objects.get(pk=int(response.json()["id"]))
    assert memory.kind == "dao-event" and memory.text == "Proposal 12 passed\nvotes_for: 31"


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        ({"query": ""}, 400, "query"),
        ({"limit": 0}, 400, "limit"),
        ({"limit": 500}, 400, "limit"),
        ({"limit": "many"}, 422, "limit"),
        ({"tiers": ["eternal"]}, 400, "tiers"),
        ({"agent_id": "agent:nobody"}, 404, "agent:nobody"),
        # The one access policy: a microDAO other than the agent's is 403, existing or not.
        ({"microdao_id": "microdao:nowhere"}, 403, "not 'microdao:nowhere'"),
        ({"microdao_id": "microdao:beta"}, 403, "not 'microdao:beta'"),
        ({"query": "q" * 5000}, 413, "query"),
    ],
)
def test_bad_query_requests_get_a_clear_4xx(client, tenants, change, status, needle):
    body = {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha", "query": "hi", **change}
    response = _post(client, "/query", body)
    assert response.status_code == status, response.content
    assert needle in response.json()["error"]["message"]


def test_missing_fields_and_oversized_or_malformed_stores_get_a_clear_4xx(client, tenants):
    response = _post(client, "/query", {"agent_id": "agent:sofia"})
    assert response.status_code == 422 and "query" in response.json()["error"]["message"]
    base = {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha"}
    big = _post(client, "/store", {**base, "content": {"user_message": "x" * 40000}})
    assert big.status_code == 413 and "content" in big.json()["error"]["message"]
    wrong = _post(client, "/store", {**base, "content": {"user_message": ["not", "text"]}})
    assert wrong.status_code == 400 and "user_message" in wrong.json()["error"]["message"]
    empty = _post(client, "/store", {**base, "content": {}})
    assert empty.status_code == 400
    kind = _post(client, "/store", {**base, "kind": "gossip", "content": {"text": "x"}})
    assert kind.status_code == 422
    assert Memory.objects.count() == 0


def test_a_bound_token_acts_only_as_its_agent(tenants):
    _, raw = make_service_token(scopes=["memory"], agent=tenants["sofia"])
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    own = _post(
        client, "/query", {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha", "query": "x"}
    )
    assert own.status_code == 200
    other = _post(
        client, "/query", {"agent_id": "agent:oleh", "microdao_id": "microdao:alpha", "query": "x"}
    )
    assert other.status_code == 403
    _, llm_only = make_service_token(scopes=["llm"])
    response = _post(
        Client(headers={"Authorization": f"Bearer {llm_only}"}),
        "/query",
        {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha", "query": "x"},
    )
    assert response.status_code == 403


def test_recent_messages_delete_and_idempotency_header(client, tenants):
    base = {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha", "channel_id": "c1"}
    first = _post(
        client,
        "/store",
        {**base, "content": {"user_message": "one"}},
        headers={"Idempotency-Key": "k1"},
    )
    again = _post(
        client,
        "/store",
        {**base, "content": {"user_message": "one"}},
        headers={"Idempotency-Key": "k1"},
    )
    assert first.json()["id"] == again.json()["id"] and again.json()["created"] is False
    _post(client, "/store", {**base, "content": {"user_message": "two"}})
    recent = client.get(
        f"{BASE}/channels/c1/messages",
        {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha"},
    )
    assert recent.status_code == 200
    assert [item["text"] for item in recent.json()["items"]] == ["User: one", "User: two"]
    memory_id = first.json()["id"]
    # Another agent of the same microDAO (not sharing memory) cannot delete it: 404, no leak.
    denied = client.delete(
        f"{BASE}/memories/{memory_id}?agent_id=agent:oleh&microdao_id=microdao:alpha"
    )
    assert denied.status_code == 404
    deleted = client.delete(
        f"{BASE}/memories/{memory_id}?agent_id=agent:sofia&microdao_id=microdao:alpha"
    )
    assert deleted.status_code == 200 and not Memory.objects.filter(pk=int(memory_id)).exists()


def test_batch_store_embeds_in_batches_and_honours_idempotency_keys(client, tenants, settings):
    settings.MEMORY_MAX_BATCH_ITEMS = 100
    items = [
        {"channel_id": "import", "content": {"user_message": f"imported line {n}"}}
        for n in range(70)
    ]
    items[3]["idempotency_key"] = "line-3"
    base = {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha"}
    response = _post(client, "/store/batch", {**base, "items": items})
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["ids"]) == 70 and not any(r["pending_embedding"] for r in body["results"])
    assert Memory.objects.filter(embedding_pending=False).count() == 70
    again = _post(client, "/store/batch", {**base, "items": [items[3], items[4]]})
    assert again.json()["results"][0] == {
        "id": body["ids"][3],
        "pending_embedding": False,
        "created": False,
    }
    assert again.json()["results"][1]["created"] is True  # no key: a new memory
    too_many = _post(client, "/store/batch", {**base, "items": items + items})
    assert too_many.status_code == 413
    empty = _post(client, "/store/batch", {**base, "items": []})
    assert empty.status_code == 400
