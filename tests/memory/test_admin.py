"""Admin: choosing the embedding model, and the memory browser's ranked search."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client

from memory.models import MemorySettings
from memory.services import memory_store

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(tenants):
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw"))
    return client


def test_choosing_the_embedding_model_per_microdao(admin_client):
    page = admin_client.get("/admin/memory/memorysettings/add/")
    assert "offline-embed" in page.text  # choices come from the gateway's embedding routes
    response = admin_client.post(
        "/admin/memory/memorysettings/add/",
        {"microdao": "microdao:beta", "embedding_model": "offline-embed"},
    )
    assert response.status_code == 302
    row = MemorySettings.objects.get(microdao_id="microdao:beta")
    assert row.embedding_model == "offline-embed"
    bad = admin_client.post(
        "/admin/memory/memorysettings/add/", {"microdao": "", "embedding_model": "gpt-nope"}
    )
    assert bad.status_code == 200 and "Select a valid choice" in bad.text
    empty_global = admin_client.post(
        "/admin/memory/memorysettings/add/", {"microdao": "", "embedding_model": ""}
    )
    assert "needs an embedding model" in empty_global.text


def test_memory_browser_search_lists_in_retrieval_order(admin_client):
    for text in ("weekly garden report", "garden tools inventory", "budget spreadsheet"):
        async_to_sync(memory_store)(
            agent_id="agent:sofia",
            microdao_id="microdao:alpha",
            channel_id="c",
            user_message=text,
            agent_reply=None,
        )
    page = admin_client.get(
        "/admin/memory/memory/", {"q": "garden inventory", "microdao__id__exact": "microdao:alpha"}
    )
    assert page.status_code == 200
    rows = re.findall(r"User: ([a-z ]+)", page.text)
    assert rows[0] == "garden tools inventory"
    assert "budget spreadsheet" not in rows[:2]


def test_memory_browser_shows_the_score_breakdown_and_settings_take_weights(admin_client):
    async_to_sync(memory_store)(
        agent_id="agent:sofia",
        microdao_id="microdao:alpha",
        channel_id="c",
        user_message="garden tools inventory",
        agent_reply=None,
    )
    page = admin_client.get(
        "/admin/memory/memory/", {"q": "garden inventory", "microdao__id__exact": "microdao:alpha"}
    )
    assert "Retrieval score" in page.text
    assert "1.000 = vector #1" in page.text and "text #1" in page.text
    response = admin_client.post(
        "/admin/memory/memorysettings/add/",
        {
            "microdao": "microdao:beta",
            "embedding_model": "",
            "vector_weight": "1",
            "text_weight": "0",
        },
    )
    assert response.status_code == 302
    row = MemorySettings.objects.get(microdao_id="microdao:beta")
    assert (row.vector_weight, row.text_weight) == (1.0, 0.0)
    bad = admin_client.post(
        "/admin/memory/memorysettings/add/",
        {"microdao": "microdao:alpha", "embedding_model": "", "vector_weight": "-2"},
    )
    assert bad.status_code == 200 and "greater than or equal to 0" in bad.text
