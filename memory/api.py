"""HTTP router of the memory orchestrator: /internal/agent-memory/*.

Thin views: the caller (a bound token can act only as its agent) is checked here, everything
else (validation, tenant checks, 4xx errors) lives in services and selectors, so in-process
callers get the same behaviour.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest
from ninja import File, Form, Router
from ninja.files import UploadedFile

from daarion.common.errors import BadRequest, PayloadTooLarge
from memory import knowledge, selectors, services
from memory.facts.api import router as facts_router
from memory.models import Document
from memory.schemas import (
    DeletedOut,
    DocumentIn,
    DocumentOut,
    ItemOut,
    QueryIn,
    QueryOut,
    RecentOut,
    StoreBatchIn,
    StoreBatchOut,
    StoreIn,
    StoreOut,
    SummarizeIn,
    SummarizeOut,
)
from memory.validation import tenant_scope_aget

router = Router()


def _text_field(content: dict, name: str) -> str | None:
    value = content.get(name)
    if value is None or isinstance(value, str):
        return value
    raise BadRequest(f"`content.{name}` must be a string.")


@router.post("/query", response=QueryOut)
async def query(request: HttpRequest, payload: QueryIn):
    request.auth.ensure_can_act_as(payload.agent_id)
    result = await selectors.memory_query(
        agent_id=payload.agent_id,
        microdao_id=payload.microdao_id,
        query=payload.query,
        limit=payload.limit,
        channel_id=payload.channel_id,
        tiers=payload.tiers,
        kinds=payload.kind_filter,
    )
    return {
        "items": [ItemOut.of(item) for item in result.items],
        "total": len(result.items),
        "query": payload.query,
        "timing_ms": result.timing_ms,
        "degraded": result.degraded,
    }


@router.post("/store", response=StoreOut)
async def store(request: HttpRequest, payload: StoreIn):
    request.auth.ensure_can_act_as(payload.agent_id)
    content = dict(payload.content)
    result = await services.memory_store(
        agent_id=payload.agent_id,
        microdao_id=payload.microdao_id,
        channel_id=payload.channel_id,
        user_message=_text_field(content, "user_message"),
        agent_reply=_text_field(content, "agent_reply"),
        metadata=payload.metadata,
        idempotency_key=payload.idempotency_key or request.headers.get("Idempotency-Key"),
        kind=payload.kind,
        content=content,
    )
    return {
        "id": result.ids[0],
        "ids": result.ids,
        "pending_embedding": result.pending_embedding,
        "created": result.created,
    }


@router.post("/store/batch", response=StoreBatchOut)
async def store_batch(request: HttpRequest, payload: StoreBatchIn):
    """Many memories of one agent in one call (history imports): one insert, batched embeds."""
    request.auth.ensure_can_act_as(payload.agent_id)
    items = []
    for item in payload.items:
        content = dict(item.content)
        items.append(
            services.StoreItem(
                channel_id=item.channel_id,
                user_message=_text_field(content, "user_message"),
                agent_reply=_text_field(content, "agent_reply"),
                metadata=item.metadata,
                idempotency_key=item.idempotency_key,
                kind=item.kind,
                content=content,
            )
        )
    results = await services.memory_store_many(
        agent_id=payload.agent_id, microdao_id=payload.microdao_id, items=items
    )
    return {
        "ids": [result.ids[0] for result in results],
        "results": [
            {"id": r.ids[0], "pending_embedding": r.pending_embedding, "created": r.created}
            for r in results
        ],
    }


@router.post("/summarize", response=SummarizeOut)
async def summarize(request: HttpRequest, payload: SummarizeIn):
    """The old service's endpoint: an extractive digest of the latest memories (no LLM)."""
    request.auth.ensure_can_act_as(payload.agent_id)
    summary, count = await sync_to_async(selectors.memory_digest)(
        agent_id=payload.agent_id,
        microdao_id=payload.microdao_id,
        channel_id=payload.channel_id,
        limit=payload.limit,
    )
    return {"summary": summary, "items_processed": count}


@router.get("/channels/{channel_id}/messages", response=RecentOut)
async def channel_messages(
    request: HttpRequest, channel_id: str, agent_id: str, microdao_id: str, limit: int = 20
):
    request.auth.ensure_can_act_as(agent_id)
    items = await sync_to_async(selectors.memory_recent_list)(
        agent_id=agent_id, microdao_id=microdao_id, channel_id=channel_id, limit=limit
    )
    return {"items": [ItemOut.of(item) for item in items], "total": len(items)}


@router.delete("/memories/{memory_id}", response=DeletedOut)
async def delete_memory(request: HttpRequest, memory_id: int, agent_id: str, microdao_id: str):
    request.auth.ensure_can_act_as(agent_id)
    await sync_to_async(services.memory_delete)(
        agent_id=agent_id, microdao_id=microdao_id, memory_id=memory_id
    )
    return {"deleted": str(memory_id)}


# --- knowledge documents -----------------------------------------------------------------------


async def _document_owner(
    request: HttpRequest, microdao_id: str, agent_id: str | None
) -> str | None:
    """A bound token adds documents only as (and for) its own agent."""
    agent_id = request.auth.effective_agent_id(agent_id)
    if agent_id is not None:
        await tenant_scope_aget(agent_id=agent_id, microdao_id=microdao_id)
    return agent_id


def _document_out(document, result=None) -> dict:
    data = {
        "id": document.pk,
        "microdao_id": document.microdao_id,
        "agent_id": document.agent_id,
        "title": document.title,
        "source": document.source,
        "checksum": document.checksum,
        "size_chars": document.size_chars,
        "updated_at": document.updated_at,
    }
    if result is not None:
        data.update(
            chunks=result.chunks,
            changed=result.changed,
            pending_embedding=result.pending_embedding,
        )
    return data


async def _ingest(microdao_id: str, agent_id: str | None, title: str, text: str, source: str):
    result = await knowledge.document_ingest(
        microdao_id=microdao_id, agent_id=agent_id, title=title, text=text, source=source
    )
    document = await Document.objects.aget(pk=result.document_id)
    return _document_out(document, result)


@router.post("/documents", response=DocumentOut)
async def add_document(request: HttpRequest, payload: DocumentIn):
    agent_id = await _document_owner(request, payload.microdao_id, payload.agent_id)
    source = payload.source or f"api:{payload.title}"
    return await _ingest(payload.microdao_id, agent_id, payload.title, payload.text, source)


@router.post("/documents/upload", response=DocumentOut)
async def upload_document(
    request: HttpRequest,
    file: File[UploadedFile],
    microdao_id: Form[str],
    agent_id: Form[str | None] = None,
    title: Form[str | None] = None,
):
    agent_id = await _document_owner(request, microdao_id, agent_id)
    name = file.name or "upload.txt"
    if not name.lower().endswith(knowledge.KB_SUFFIXES):
        raise BadRequest("Upload a Markdown or text file (.md, .markdown, .txt).")
    if file.size and file.size > settings.MEMORY_MAX_DOCUMENT_CHARS * 4:
        raise PayloadTooLarge("The file is too large.")
    raw = await sync_to_async(file.read)()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("The file is not UTF-8 text.") from exc
    return await _ingest(microdao_id, agent_id, title or name, text, f"upload:{name}")


@router.get("/documents", response=list[DocumentOut])
async def list_documents(request: HttpRequest, microdao_id: str, agent_id: str | None = None):
    if request.auth.is_bound or agent_id:
        await _document_owner(request, microdao_id, agent_id)
    documents = await sync_to_async(selectors.document_list)(microdao_id=microdao_id)
    bound = request.auth.agent_id
    return [
        _document_out(document)
        for document in documents
        if bound is None or document.agent_id in (None, bound)
    ]


@router.delete("/documents/{document_id}", response=DeletedOut)
async def delete_document(
    request: HttpRequest, document_id: int, microdao_id: str, agent_id: str | None = None
):
    agent_id = await _document_owner(request, microdao_id, agent_id)
    await sync_to_async(knowledge.document_delete)(
        document_id=document_id, microdao_id=microdao_id, agent_id=agent_id
    )
    return {"deleted": str(document_id)}


router.add_router("/facts", facts_router)  # memory/facts/api.py
