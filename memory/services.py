"""Writes: store (text first, embedding after), delete, embedding persistence, settings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from daarion.common.errors import ApiError, BadRequest, Conflict, NotFound, PayloadTooLarge
from daarion.common.registry_stamp import registry_changed
from memory.config import config_cache, embedding_config_aget, embedding_config_get
from memory.embeddings import embed_texts, embedding_model_dimensions
from memory.facts.config import facts_config_get
from memory.facts.dispatch import facts_dispatch_submit
from memory.facts.services import memories_forget
from memory.models import FactsState, Kind, Memory, MemoryEmbedding, MemorySettings, Tier
from memory.search import vector_literal
from memory.selectors import memory_get_in_scope
from memory.spaces import embedding_space_ensure, validate_model_name
from memory.tasks import embed_pending_enqueue
from memory.types import MemoryStoreResult, TenantScope
from memory.validation import clean_text, tenant_scope_aget, tenant_scope_get

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MemoryRef:
    """What embedding a memory needs, detached from the ORM."""

    id: int
    text: str
    microdao_id: str
    agent_id: str | None
    tier: str
    kind: str

    @classmethod
    def of(cls, memory: Memory) -> MemoryRef:
        return cls(
            id=memory.pk,
            text=memory.text,
            microdao_id=memory.microdao_id,
            agent_id=memory.agent_id,
            tier=memory.tier,
            kind=memory.kind,
        )


def render_content(
    *, user_message: str | None, agent_reply: str | None, content: dict | None = None
) -> str:
    """The searchable text of a stored exchange (or of the old API's structured content)."""
    lines = []
    if user_message:
        lines.append(f"User: {user_message.strip()}")
    if agent_reply:
        lines.append(f"Agent: {agent_reply.strip()}")
    for key, value in (content or {}).items():
        if key in ("user_message", "agent_reply") or value in (None, "", [], {}):
            continue
        if key in ("text", "content", "message", "body"):
            lines.append(str(value).strip())
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(line for line in lines if line)


# --- store -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreItem:
    """One memory to store (memory_store_many); the same fields as memory_store."""

    channel_id: str | None = None
    user_message: str | None = None
    agent_reply: str | None = None
    metadata: dict | None = None
    idempotency_key: str | None = None
    kind: str = Kind.CONVERSATION
    content: dict | None = None


def _new_memory(scope: TenantScope, item: StoreItem) -> Memory:
    """A validated, unsaved Memory for `item` (clear 4xx on bad input)."""
    if item.kind not in Kind.values:
        raise BadRequest(f"Unknown memory kind {item.kind!r}; known: {Kind.values}.")
    content = dict(item.content or {})
    if item.user_message is not None:
        content["user_message"] = item.user_message
    if item.agent_reply is not None:
        content["agent_reply"] = item.agent_reply
    text = clean_text(
        render_content(
            user_message=item.user_message, agent_reply=item.agent_reply, content=content
        ),
        field="content",
    )
    if not text.strip():
        raise BadRequest("Nothing to store: give `user_message`, `agent_reply` or content text.")
    key = item.idempotency_key
    if key is not None and not (0 < len(key) <= 200):
        raise BadRequest("`idempotency_key` must have 1 to 200 characters.")
    if item.metadata is not None and not isinstance(item.metadata, dict):
        raise BadRequest("`metadata` must be a JSON object.")
    return Memory(
        microdao_id=scope.microdao_id,
        agent_id=scope.agent_id,
        channel_id=item.channel_id,
        tier=Tier.LONG if item.kind == Kind.KB else Tier.MID,
        kind=item.kind,
        text=text,
        content=content,
        metadata=item.metadata or {},
        idempotency_key=key,
    )


async def memory_store(
    *,
    agent_id: str,
    microdao_id: str,
    channel_id: str | None,
    user_message: str | None,
    agent_reply: str | None,
    metadata: dict | None = None,
    idempotency_key: str | None = None,
    kind: str = Kind.CONVERSATION,
    content: dict | None = None,
) -> MemoryStoreResult:
    """Save an exchange as one memory: the text is committed first, then embedded.

    If the embedding route fails, the memory stays with `embedding_pending` and
    `reindex_memories --pending` completes it; a repeated `idempotency_key` is a no-op.
    """
    item = StoreItem(
        channel_id=channel_id,
        user_message=user_message,
        agent_reply=agent_reply,
        metadata=metadata,
        idempotency_key=idempotency_key,
        kind=kind,
        content=content,
    )
    [result] = await memory_store_many(agent_id=agent_id, microdao_id=microdao_id, items=[item])
    return result


async def memory_store_many(
    *, agent_id: str, microdao_id: str, items: Sequence[StoreItem]
) -> list[MemoryStoreResult]:
    """Store many memories of one agent: one insert, then batched embedding calls."""
    if not items:
        raise BadRequest("Nothing to store.")
    if len(items) > settings.MEMORY_MAX_BATCH_ITEMS:
        raise PayloadTooLarge(
            f"{len(items)} memories in one call; at most {settings.MEMORY_MAX_BATCH_ITEMS}."
        )
    scope = await tenant_scope_aget(agent_id=agent_id, microdao_id=microdao_id)
    memories = [_new_memory(scope, item) for item in items]
    saved = await sync_to_async(_memories_insert)(memories=memories)
    to_embed = [MemoryRef.of(memory) for memory, _ in saved if memory.embedding_pending]
    # New ones, and retries of stores whose embedding failed: try (again) now.
    embedded = await memories_embed(memories=to_embed, agent_id=agent_id) if to_embed else set()
    if still_pending := [memory.id for memory in to_embed if memory.id not in embedded]:
        await sync_to_async(embed_pending_enqueue)(memory_ids=still_pending)  # retried by a worker
    # Fact extraction: the INSERT above marked these memories pending; a background thread
    # queues their job after this returns (memory/facts/dispatch.py), so the write path pays
    # no extra statement, and a crash in between leaves them pending for the sweep.
    facts_dispatch_submit(
        [m.pk for m, created in saved if created and m.facts_state == FactsState.PENDING]
    )
    return [
        MemoryStoreResult(
            ids=[str(memory.pk)],
            pending_embedding=memory.embedding_pending and memory.pk not in embedded,
            created=created,
        )
        for memory, created in saved
    ]


def _facts_enabled(microdao_id: str) -> bool:
    """Is fact extraction on (cached)? Never fails a store: on an error the memory is stored
    unmarked, and `extract_facts --missing` finds it later."""
    try:
        return facts_config_get(microdao_id=microdao_id).enabled
    except Exception:
        logger.exception("fact extraction config unavailable; memory stored without extraction")
        return False


def _memories_insert(*, memories: list[Memory]) -> list[tuple[Memory, bool]]:
    """Commit the texts (one transaction); an idempotency key seen before returns that row.

    Memories to extract facts from are marked `facts_state = pending` in this same INSERT."""
    if memories and _facts_enabled(memories[0].microdao_id):
        for memory in memories:
            if memory.agent_id is not None and memory.document_id is None:
                memory.facts_state = FactsState.PENDING
    try:
        with transaction.atomic():
            Memory.objects.bulk_create(memories)
        return [(memory, True) for memory in memories]
    except IntegrityError:
        if all(memory.idempotency_key is None for memory in memories):
            raise
    return [_memory_insert_one(memory) for memory in memories]


def _memory_insert_one(memory: Memory) -> tuple[Memory, bool]:
    try:
        with transaction.atomic():
            memory.save(force_insert=True)
        return memory, True
    except IntegrityError:
        if memory.idempotency_key is None:
            raise
    memory.pk = None
    earlier = Memory.objects.get(
        microdao_id=memory.microdao_id,
        agent_id=memory.agent_id,
        idempotency_key=memory.idempotency_key,
    )
    if earlier.text != memory.text or earlier.channel_id != memory.channel_id:
        raise Conflict(
            "This idempotency key was already used for a different memory.",
            details={"memory_id": str(earlier.pk)},
        )
    return earlier, False


# --- embedding ---------------------------------------------------------------------------------


async def memories_embed(
    *,
    memories: Sequence[MemoryRef],
    agent_id: str | None,
    models: Sequence[str] | None = None,
    failures: dict[str, str] | None = None,
) -> set[int]:
    """Embed memories of one microDAO with every model they need; return the ids now complete.

    A model whose route fails leaves its memories pending (logged, never raised): the texts are
    already committed, and `reindex_memories --pending` finishes them later. `failures`, when
    given, collects model → the error's message.
    """
    if not memories:
        return set()
    microdao_id = memories[0].microdao_id
    assert all(memory.microdao_id == microdao_id for memory in memories)
    config = await embedding_config_aget(microdao_id=microdao_id)
    needed = tuple(models) if models else config.write_models
    # Not pending any more only once every model queries may use has the vector.
    complete = set(needed) >= set(config.write_models)
    embedded: list[tuple[str, int, list[list[float]]]] = []
    for model in needed:
        try:
            vectors, dimensions = await embed_texts(
                model=model,
                texts=[memory.text for memory in memories],
                agent_id=agent_id,
                microdao_id=microdao_id,
            )
        except ApiError as exc:
            logger.warning(
                "embedding %d memories with %s failed (%s): not embedded yet",
                len(memories),
                model,
                exc.error_type,
            )
            if failures is not None:
                failures[model] = exc.message
            complete = False
            continue
        embedded.append((model, dimensions, vectors))
    if embedded:
        await sync_to_async(_embeddings_commit)(
            memories=memories, embedded=embedded, mark_complete=complete
        )
    if set(needed) - {model for model, _, _ in embedded}:
        return set()
    return {memory.id for memory in memories}


def _embeddings_commit(
    *,
    memories: Sequence[MemoryRef],
    embedded: Sequence[tuple[str, int, list[list[float]]]],
    mark_complete: bool,
) -> None:
    """The vectors of one call and the pending flags: one transaction per part.

    A big batch (at least MEMORY_STORE_PARALLEL_MIN memories, called outside a transaction) is
    written in MEMORY_STORE_WRITE_WORKERS parts on as many connections at once: inserting into
    the HNSW index is most of a bulk store's cost, and pgvector takes concurrent inserts. Each
    part commits its vectors with its memories' flags, so a failed part leaves exactly its own
    memories pending (`reindex_memories --pending` completes them)."""
    for model, dimensions, _ in embedded:
        embedding_space_ensure(model=model, dimensions=dimensions)
    parts = _write_parts(len(memories))
    bounds = [(len(memories) * i // parts, len(memories) * (i + 1) // parts) for i in range(parts)]
    if parts == 1:
        _embeddings_write(memories, embedded, 0, len(memories), mark_complete)
    else:
        with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="memory-write") as pool:
            futures = [
                pool.submit(_embeddings_write_own_connection, memories, embedded, lo, hi,
                            mark_complete)
                for lo, hi in bounds
            ]  # fmt: skip
            for future in futures:
                future.result()  # every part finishes; the first error is raised
    for model, _, _ in embedded:
        _pin_serving_model(microdao_ids={memory.microdao_id for memory in memories}, model=model)


def _write_parts(count: int) -> int:
    workers = max(1, int(settings.MEMORY_STORE_WRITE_WORKERS))
    if workers == 1 or count < int(settings.MEMORY_STORE_PARALLEL_MIN):
        return 1
    # Another connection cannot see rows of a transaction still open here.
    return 1 if connection.in_atomic_block else workers


def _embeddings_write(
    memories: Sequence[MemoryRef],
    embedded: Sequence[tuple[str, int, list[list[float]]]],
    lo: int,
    hi: int,
    mark_complete: bool,
) -> None:
    part = memories[lo:hi]
    with transaction.atomic():
        for model, _, vectors in embedded:
            embeddings_save(memories=part, model=model, vectors=vectors[lo:hi])
        if mark_complete:
            Memory.objects.filter(
                pk__in=[memory.id for memory in part], embedding_pending=True
            ).update(embedding_pending=False)


def _embeddings_write_own_connection(*args) -> None:
    try:
        _embeddings_write(*args)
    finally:
        connection.close()  # this worker thread's own connection


_UPSERT_SQL = f"""
    INSERT INTO {MemoryEmbedding._meta.db_table}
        (memory_id, model, microdao_id, agent_id, tier, kind, embedding, created_at)
    SELECT u.memory_id, %(model)s, u.microdao_id, u.agent_id, u.tier, u.kind, u.vector::vector,
           now()
    FROM unnest(%(ids)s::bigint[], %(microdaos)s::text[], %(agents)s::text[], %(tiers)s::text[],
                %(kinds)s::text[], %(vectors)s::text[])
         AS u(memory_id, microdao_id, agent_id, tier, kind, vector)
    ON CONFLICT (memory_id, model, microdao_id)
    DO UPDATE SET embedding = EXCLUDED.embedding, created_at = EXCLUDED.created_at
"""  # noqa: S608  (table name from the model; values are parameters)


def embeddings_save(
    *, memories: Sequence[MemoryRef], model: str, vectors: Sequence[Sequence[float]]
) -> None:
    """Upsert one model's vectors for `memories` (a re-embed replaces the old vector)."""
    if len(vectors) != len(memories):
        raise ValueError("one vector per memory")
    params = {
        "model": model,
        "ids": [memory.id for memory in memories],
        "microdaos": [memory.microdao_id for memory in memories],
        "agents": [memory.agent_id for memory in memories],
        "tiers": [memory.tier for memory in memories],
        "kinds": [memory.kind for memory in memories],
        "vectors": [vector_literal(vector) for vector in vectors],
    }
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL, params)  # type: ignore[arg-type]


def _pin_serving_model(*, microdao_ids: set[str], model: str) -> None:
    """On a microDAO's first embedding, record the model its queries use from now on."""
    for microdao_id in microdao_ids:
        if embedding_config_get(microdao_id=microdao_id).serving_pinned:
            continue
        row, _ = MemorySettings.objects.get_or_create(microdao_id=microdao_id)
        if not row.serving_model:
            MemorySettings.objects.filter(pk=row.pk, serving_model="").update(serving_model=model)
            config_cache.invalidate(microdao_id)
            registry_changed()  # a bulk update sends no signal


# --- delete ------------------------------------------------------------------------------------


def memory_delete(*, agent_id: str, microdao_id: str, memory_id: int) -> None:
    """Delete one memory of the caller's scope (404 for another tenant's: no existence leak)."""
    scope = tenant_scope_get(agent_id=agent_id, microdao_id=microdao_id)
    memory = memory_get_in_scope(scope=scope, memory_id=memory_id)
    if memory is None:
        raise NotFound(f"No memory {memory_id} in this agent's memory.")
    if memory.document_id is not None:
        raise BadRequest("This memory is a knowledge chunk: delete its document instead.")
    memories_forget(memory_ids=[memory.pk], actor=f"api:{agent_id}")


def memories_delete(*, memory_ids: Sequence[int], actor: str = "admin") -> int:
    """Operator deletion (admin): memories, their vectors and the facts only they support."""
    return memories_forget(memory_ids=memory_ids, actor=actor).memories


# --- settings ----------------------------------------------------------------------------------


KEEP: Any = object()  # memory_settings_set: "leave this field as it is"


def memory_settings_set(
    *,
    microdao_id: str | None,
    embedding_model: str,
    build_index: bool = True,
    vector_weight: float | None = KEEP,
    text_weight: float | None = KEEP,
) -> MemorySettings:
    """Choose the embedding model (global when `microdao_id` is None) and, when given, the
    hybrid ranking's weights (None = inherit; left out = unchanged).

    Queries keep using the model they serve until `reindex_memories` has embedded every memory
    with the new one; only a microDAO that has never embedded anything switches at once.
    """
    if embedding_model:
        validate_model_name(embedding_model)
        dimensions = embedding_model_dimensions(embedding_model)
        if dimensions is None:
            raise BadRequest(f"{embedding_model!r} is not an embedding route of the LLM gateway.")
        embedding_space_ensure(
            model=embedding_model, dimensions=dimensions, build_index=build_index
        )
    elif microdao_id is None:
        raise BadRequest("The global embedding model cannot be empty.")
    defaults: dict = {"embedding_model": embedding_model}
    for name, value in (("vector_weight", vector_weight), ("text_weight", text_weight)):
        if value is KEEP:
            continue
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10
        ):
            raise BadRequest(f"`{name}` must be a number from 0 to 10, got {value!r}.")
        defaults[name] = None if value is None else float(value)
    row, _ = MemorySettings.objects.update_or_create(microdao_id=microdao_id, defaults=defaults)
    config_cache.invalidate()
    return row


def memory_settings_switch_serving(*, microdao_id: str, model: str) -> None:
    MemorySettings.objects.update_or_create(
        microdao_id=microdao_id, defaults={"serving_model": model}
    )
    config_cache.invalidate()
