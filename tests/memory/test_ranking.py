"""Weighted hybrid ranking: weights from Memory settings, a score breakdown on every item."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from daarion.common.errors import BadRequest
from memory.config import embedding_config_get
from memory.services import memory_settings_set, memory_store

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/internal/agent-memory"


def _store(text: str) -> None:
    async_to_sync(memory_store)(
        agent_id="agent:sofia",
        microdao_id="microdao:alpha",
        channel_id="c",
        user_message=text,
        agent_reply=None,
    )


def _query(client: Client, text: str) -> list[dict]:
    response = client.post(
        f"{BASE}/query",
        {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha", "query": text, "limit": 5},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["items"]


def _fused(parts: dict, k: int) -> float:
    total = 0.0
    for side in ("vector", "text"):
        if parts[f"{side}_rank"] is not None:
            total += parts[f"{side}_weight"] / (k + parts[f"{side}_rank"])
    return total


def test_items_carry_their_score_breakdown_and_weights_come_from_settings(
    tenants, internal_headers, settings
):
    settings.MEMORY_VECTOR_WEIGHT, settings.MEMORY_TEXT_WEIGHT = 1.0, 0.25
    client = Client(headers=internal_headers)
    for text in ("garden tools inventory", "weekly garden report", "budget spreadsheet"):
        _store(text)
    items = _query(client, "garden inventory")
    top = items[0]["score_breakdown"]
    assert items[0]["text"] == "User: garden tools inventory"
    assert top["vector_rank"] == 1 and top["text_rank"] == 1
    assert (top["vector_weight"], top["text_weight"]) == (1.0, 0.25)
    assert 0 < top["vector_score"] <= 1 and top["text_score"] > 0
    for item in items:
        parts = item["score_breakdown"]
        assert parts["fused"] == pytest.approx(_fused(parts, settings.MEMORY_RRF_K), abs=1e-6)
    # "budget spreadsheet" shares no word with the query: only the vector list has it.
    budget = next(i for i in items if "budget" in i["text"])["score_breakdown"]
    assert budget["text_rank"] is None and budget["text_score"] is None
    assert items[0]["score"] == 1.0  # rank 1 in both lists

    # The global row's weights, then the microDAO's own, override the settings.
    memory_settings_set(microdao_id=None, embedding_model="offline-embed", text_weight=0.0)
    assert embedding_config_get(microdao_id="microdao:alpha").text_weight == 0.0
    parts = _query(client, "garden inventory")[0]["score_breakdown"]
    assert parts["text_weight"] == 0.0
    expected = 1.0 / (settings.MEMORY_RRF_K + parts["vector_rank"])
    assert parts["fused"] == pytest.approx(expected, abs=1e-6)
    memory_settings_set(
        microdao_id="microdao:alpha", embedding_model="", vector_weight=0.0, text_weight=2.0
    )
    parts = _query(client, "garden inventory")[0]["score_breakdown"]
    assert (parts["vector_weight"], parts["text_weight"]) == (0.0, 2.0)
    # Short-term items (channel block) have no breakdown.
    response = client.post(
        f"{BASE}/query",
        {
            "agent_id": "agent:sofia",
            "microdao_id": "microdao:alpha",
            "query": "x",
            "channel_id": "c",
        },
        content_type="application/json",
    )
    short = [i for i in response.json()["items"] if i["tier"] == "short"]
    assert short and all(i["score_breakdown"] is None for i in short)


@pytest.mark.parametrize("weight", [-1, 11, "1", True])
def test_bad_weights_are_rejected(tenants, weight):
    with pytest.raises(BadRequest, match="vector_weight"):
        memory_settings_set(microdao_id="microdao:alpha", embedding_model="", vector_weight=weight)
