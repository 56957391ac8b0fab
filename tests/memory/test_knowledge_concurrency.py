"""Concurrent re-uploads of one knowledge document queue instead of racing (was 30 of 40 → 500)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from memory.models import Document, Memory

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(headers: dict[str, str], text: str) -> int:
    try:
        response = Client(headers=headers).post(
            "/internal/agent-memory/documents",
            {"microdao_id": "microdao:alpha", "title": "Guide", "text": text, "source": "kb:guide"},
            content_type="application/json",
        )
        return response.status_code
    finally:
        connection.close()  # each worker thread has its own connection


def test_concurrent_reuploads_of_one_document_answer_200_or_409(tenants, internal_headers):
    texts = [f"# Guide\n\nVersion {n % 3}: how to start." for n in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda text: _upload(internal_headers, text), texts))
    assert set(statuses) <= {200, 409}, statuses
    assert 200 in statuses
    assert Document.objects.filter(source="kb:guide").count() == 1
    document = Document.objects.get(source="kb:guide")
    chunks = Memory.objects.filter(document=document)
    assert chunks.count() >= 1 and all(document.checksum for _ in chunks)
