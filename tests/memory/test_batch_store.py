"""POST /store/batch (memory_store_many): input validated before anything is written, tenant
isolation, one embedding call (one usage row) per batch of MEMORY_EMBED_BATCH_SIZE texts."""

from __future__ import annotations

import pytest
from django.test import Client

from llm.models import UsageLog
from llm.usage import usage_flush
from memory.models import Memory, MemoryEmbedding

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/internal/agent-memory"
ALPHA = {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha"}


@pytest.fixture
def client(internal_headers):
    return Client(headers=internal_headers)


def _post(client, path, body):
    return client.post(f"{BASE}{path}", body, content_type="application/json")


def _items(count: int, word: str = "line") -> list[dict]:
    return [
        {"channel_id": "import", "content": {"user_message": f"{word} {n}"}} for n in range(count)
    ]


@pytest.mark.parametrize(
    ("bad_item", "status"),
    [
        ({"content": {}}, 400),  # nothing to store
        ({"content": {"user_message": "x" * 40}}, 413),  # over MEMORY_MAX_TEXT_CHARS (30)
        ({"content": {"user_message": "ok"}, "kind": "poem"}, 422),
        ({"content": {"user_message": "ok"}, "metadata": ["not", "an", "object"]}, 422),
        ({"content": {"user_message": "ok"}, "idempotency_key": ""}, 400),
        ({"content": "not an object"}, 422),
    ],
)
def test_one_bad_item_rejects_the_whole_batch_and_nothing_is_written(
    client, tenants, settings, bad_item, status
):
    settings.MEMORY_MAX_TEXT_CHARS = 30
    items = [*_items(3), bad_item]
    response = _post(client, "/store/batch", {**ALPHA, "items": items})
    assert response.status_code == status, response.content
    assert response.json()["error"]["message"]
    assert not Memory.objects.exists() and not MemoryEmbedding.objects.exists()


def test_batch_stores_stay_in_their_tenant(client, tenants):
    # An agent of beta cannot write into alpha's memory.
    denied = _post(
        client,
        "/store/batch",
        {"agent_id": "agent:bohdan", "microdao_id": "microdao:alpha", "items": _items(2)},
    )
    assert denied.status_code in (403, 404) and not Memory.objects.exists()

    stored = _post(client, "/store/batch", {**ALPHA, "items": _items(5, "zebra")})
    assert stored.status_code == 200
    assert set(MemoryEmbedding.objects.values_list("microdao_id", "agent_id").distinct()) == {
        ("microdao:alpha", "agent:sofia")
    }
    for agent, microdao, visible in (
        ("agent:sofia", "microdao:alpha", 5),
        ("agent:oleh", "microdao:alpha", 0),  # alpha does not share memory between agents
        ("agent:bohdan", "microdao:beta", 0),
    ):
        body = {"agent_id": agent, "microdao_id": microdao, "query": "zebra", "limit": 10}
        found = _post(client, "/query", body).json()["items"]
        assert len([item for item in found if "zebra" in item["text"]]) == visible


def test_one_embedding_call_and_usage_row_per_embed_batch(client, tenants, settings):
    settings.MEMORY_EMBED_BATCH_SIZE = 32
    response = _post(client, "/store/batch", {**ALPHA, "items": _items(70)})
    assert response.status_code == 200
    assert not any(result["pending_embedding"] for result in response.json()["results"])
    usage_flush()
    rows = UsageLog.objects.filter(kind="embedding", microdao_id="microdao:alpha")
    assert rows.count() == 3  # 32 + 32 + 6 texts
    assert {row.agent_id for row in rows} == {"agent:sofia"}
    assert MemoryEmbedding.objects.count() == 70


def test_a_big_batch_writes_its_vectors_on_parallel_connections(
    client, tenants, settings, monkeypatch
):
    import threading

    from memory import services

    settings.MEMORY_STORE_WRITE_WORKERS, settings.MEMORY_STORE_PARALLEL_MIN = 2, 10
    parts: list[tuple[str, int]] = []
    write = services._embeddings_write

    def spy(memories, embedded, lo, hi, mark_complete):
        parts.append((threading.current_thread().name, hi - lo))
        write(memories, embedded, lo, hi, mark_complete)

    monkeypatch.setattr(services, "_embeddings_write", spy)
    response = _post(client, "/store/batch", {**ALPHA, "items": _items(31)})
    small = _post(client, "/store/batch", {**ALPHA, "items": _items(5, "small")})
    assert response.status_code == 200 and small.status_code == 200
    assert sorted(size for _, size in parts) == [5, 15, 16]
    big_parts = [name for name, size in parts if size > 5]
    assert all(name.startswith("memory-write") for name in big_parts)  # two worker threads
    assert not Memory.objects.filter(embedding_pending=True).exists()
    assert MemoryEmbedding.objects.count() == 36
    assert not any(r["pending_embedding"] for r in response.json()["results"])
