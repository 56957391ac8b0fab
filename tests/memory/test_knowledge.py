"""Long-term knowledge: chunking, ingest_kb (idempotent, removes deleted files), documents API
and admin upload."""

from __future__ import annotations

import io
import itertools

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from memory.chunking import chunk_text
from memory.models import Document, Memory, MemoryEmbedding
from memory.selectors import memory_query


def test_chunks_overlap_respect_size_and_keep_headings():
    sentences = " ".join(f"Sentence {n} talks about topic {n}." for n in range(120))
    text = f"# Guide\n\nIntro.\n\n## Details\n\n{sentences}\n\n## End\n\nBye."
    chunks = chunk_text(text, size=400, overlap=80)
    assert len(chunks) > 5
    assert all(len(chunk.text) <= 400 for chunk in chunks)
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert chunks[0].heading == "Guide" and chunks[-1].heading == "Guide > End"
    assert any(chunk.heading == "Guide > Details" for chunk in chunks)
    for previous, current in itertools.pairwise(chunks[1:-1]):
        # Each chunk starts with the tail of the one before.
        assert current.text[:30] in previous.text
    # Every sentence is somewhere.
    joined = "\n".join(chunk.text for chunk in chunks)
    assert all(f"Sentence {n} talks" in joined for n in range(120))


def test_a_code_fence_hash_is_not_a_heading():
    chunks = chunk_text("# Title\n\n```\n# not a heading\n```\n", size=200, overlap=20)
    assert len(chunks) == 1 and chunks[0].heading == "Title"


def _ingest(path, *args) -> str:
    out = io.StringIO()
    call_command("ingest_kb", str(path), *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_ingest_kb_is_idempotent_updates_changed_files_and_removes_deleted_ones(tenants, tmp_path):
    (tmp_path / "guide.md").write_text("# Onboarding\n\nNew members get a mentor for a month.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "faq.txt").write_text("The community fridge is refilled on Mondays.")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.md").write_text("secret")
    output = _ingest(tmp_path, "--microdao", "microdao:alpha")
    assert output.startswith("2 added, 0 updated, 0 unchanged, 0 removed")
    assert Document.objects.count() == 2
    guide = Document.objects.get(title="Onboarding")
    assert guide.chunks.count() == 1 and guide.chunks.get().tier == "long"
    chunk_ids = set(Memory.objects.values_list("pk", flat=True))
    assert MemoryEmbedding.objects.filter(memory_id__in=chunk_ids).count() == 2

    assert _ingest(tmp_path, "--microdao", "microdao:alpha").startswith(
        "0 added, 0 updated, 2 unchanged, 0 removed"
    )
    assert set(Memory.objects.values_list("pk", flat=True)) == chunk_ids  # untouched

    (tmp_path / "guide.md").write_text("# Onboarding\n\nNew members get a mentor for two months.")
    (tmp_path / "sub" / "faq.txt").unlink()
    output = _ingest(tmp_path, "--microdao", "microdao:alpha")
    assert output.startswith("0 added, 1 updated, 0 unchanged, 1 removed")
    assert list(Document.objects.values_list("title", flat=True)) == ["Onboarding"]
    assert "two months" in Memory.objects.get().text
    # Found by the long tier.
    result = async_to_sync(memory_query)(
        agent_id="agent:sofia", microdao_id="microdao:alpha", query="mentor for new members"
    )
    assert result.items[0].tier == "long" and "mentor" in result.items[0].text
    assert result.items[0].metadata["title"] == "Onboarding"


@pytest.mark.django_db
def test_ingest_kb_errors(tenants, tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        _ingest(tmp_path / "missing", "--microdao", "microdao:alpha")
    (tmp_path / "a.md").write_text("text")
    with pytest.raises(CommandError, match="Unknown microDAO"):
        _ingest(tmp_path, "--microdao", "microdao:nowhere")
    with pytest.raises(CommandError, match="not 'microdao:beta'"):  # the one access policy
        _ingest(tmp_path, "--microdao", "microdao:beta", "--agent", "agent:sofia")


@pytest.mark.django_db(transaction=True)
def test_documents_api_json_upload_list_and_delete(tenants, internal_headers):
    client = Client(headers=internal_headers)
    base = "/internal/agent-memory/documents"
    created = client.post(
        base,
        {"microdao_id": "microdao:alpha", "title": "Rules", "text": "Voting lasts two days."},
        content_type="application/json",
    )
    assert created.status_code == 200, created.content
    assert created.json()["chunks"] == 1 and created.json()["changed"] is True
    same = client.post(
        base,
        {"microdao_id": "microdao:alpha", "title": "Rules", "text": "Voting lasts two days."},
        content_type="application/json",
    )
    assert same.json()["changed"] is False and same.json()["id"] == created.json()["id"]
    upload = client.post(
        f"{base}/upload",
        {
            "microdao_id": "microdao:alpha",
            "agent_id": "agent:sofia",
            "file": SimpleUploadedFile("notes.md", "# Notes\n\nПривіт, світе!".encode()),  # noqa: RUF001
        },
    )
    assert upload.status_code == 200, upload.content
    assert (
        upload.json()["agent_id"] == "agent:sofia" and upload.json()["source"] == "upload:notes.md"
    )
    binary = client.post(
        f"{base}/upload",
        {"microdao_id": "microdao:alpha", "file": SimpleUploadedFile("x.md", b"\xff\xfe\x00")},
    )
    assert binary.status_code == 400
    listed = client.get(base, {"microdao_id": "microdao:alpha"})
    assert sorted(d["title"] for d in listed.json()) == ["Rules", "notes.md"]
    assert client.get(base, {"microdao_id": "microdao:beta"}).json() == []
    assert client.get(base, {"microdao_id": "microdao:nowhere"}).status_code == 404
    # Another microDAO cannot delete it.
    doc_id = created.json()["id"]
    assert client.delete(f"{base}/{doc_id}?microdao_id=microdao:beta").status_code == 404
    assert client.delete(f"{base}/{doc_id}?microdao_id=microdao:alpha").status_code == 200
    assert not Memory.objects.filter(document_id=doc_id).exists()
    empty = client.post(
        base,
        {"microdao_id": "microdao:alpha", "title": "Empty", "text": "  "},
        content_type="application/json",
    )
    assert empty.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_admin_document_upload_and_delete(tenants):
    admin = get_user_model().objects.create_superuser("root", "", "pw")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/memory/document/add/",
        {
            "microdao": "microdao:alpha",
            "agent": "",
            "title": "Handbook",
            "upload": SimpleUploadedFile("handbook.md", b"# Handbook\n\nBe kind."),
            "text": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    document = Document.objects.get()
    assert document.source == "upload:handbook.md" and document.chunks.count() == 1
    assert client.get("/admin/memory/chunk/").status_code == 200
    assert client.get(f"/admin/memory/document/{document.pk}/change/").status_code == 200
    response = client.post(f"/admin/memory/document/{document.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Document.objects.exists() and not Memory.objects.exists()
    for page in ("memory", "memorysettings", "embeddingspace", "reindexjob", "document"):
        assert client.get(f"/admin/memory/{page}/").status_code == 200
    assert client.get("/admin/memory/memorysettings/add/").status_code == 200
