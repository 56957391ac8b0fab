"""Reads: the memory query (short-term + hybrid mid/long-term retrieval) and listings."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence

import orjson
from asgiref.sync import async_to_sync, sync_to_async

from daarion.agents.models import MicroDAO
from daarion.common.errors import ApiError, BadRequest, NotFound
from memory import search
from memory.config import embedding_config_aget, embedding_config_get
from memory.embeddings import embed_texts
from memory.facts.selectors import FACTS_TIER, facts_rank_with
from memory.models import Document, Memory, Tier
from memory.spaces import embedding_space_get, space_cache
from memory.textsearch import build_tsquery, query_terms
from memory.textstats import selective_terms
from memory.types import MemoryItem, MemoryQueryResult, TenantScope
from memory.validation import (
    clean_kinds,
    clean_limit,
    clean_query,
    clean_tiers,
    tenant_scope_aget,
    tenant_scope_get,
)

logger = logging.getLogger(__name__)
RETRIEVAL_TIERS = (Tier.MID.value, Tier.LONG.value)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def _decode_metadata(items: list[MemoryItem]) -> list[MemoryItem]:
    # Raw cursors hand jsonb back as text under Django's psycopg setup.
    decoded = []
    for item in items:
        if isinstance(item.metadata, (str, bytes)):
            item = dataclasses.replace(item, metadata=orjson.loads(item.metadata))
        decoded.append(item)
    return decoded


def memory_search_run(
    *,
    scope: TenantScope,
    query: str,
    limit: int,
    tiers: Sequence[str],
    channel_id: str | None = None,
    kinds: Sequence[str] | None = None,
    vector_query: search.VectorQuery | None = None,
    timing: dict[str, float] | None = None,
    weights: tuple[float, float] | None = None,
) -> list[MemoryItem]:
    """Short-term block (channel's latest, in order) then hybrid-ranked mid/long memories.

    `weights` (vector, text) of the rank fusion; None = the microDAO's Memory settings."""
    timing = {} if timing is None else timing
    items: list[MemoryItem] = []
    if Tier.SHORT in tiers and channel_id:
        started = time.perf_counter()
        items = search.channel_recent(scope=scope, channel_id=channel_id, limit=limit, kinds=kinds)
        timing["short"] = _ms(started)
    retrieval_tiers = [tier for tier in tiers if tier in RETRIEVAL_TIERS]
    if retrieval_tiers:
        started = time.perf_counter()
        if vector_query is not None:
            exact = search.exact_search_preferred(scope=scope, model=vector_query.model)
            vector_query = dataclasses.replace(vector_query, exact=exact)
        if weights is None:
            config = embedding_config_get(microdao_id=scope.microdao_id)
            weights = (config.vector_weight, config.text_weight)
        terms = query_terms(query)
        if vector_query is not None:  # the vector side finds what the dropped words meant
            terms, dropped = selective_terms(terms)
            if dropped:
                logger.debug("common terms left out of the full-text side: %s", dropped)
        items += search.hybrid_search(
            scope=scope,
            tsquery=build_tsquery(terms),
            vector_query=vector_query,
            tiers=retrieval_tiers,
            kinds=kinds,
            limit=limit,
            exclude_ids=[int(item.id) for item in items],
            vector_weight=weights[0],
            text_weight=weights[1],
        )
        timing["search"] = _ms(started)
    return _decode_metadata(items)


async def memory_query(
    *,
    agent_id: str,
    microdao_id: str,
    query: str,
    limit: int = 5,
    channel_id: str | None = None,
    tiers: list[str] | None = None,
    kinds: list[str] | None = None,
) -> MemoryQueryResult:
    """The caller's memories for `query`: up to `limit` recent channel messages (short) and up
    to `limit` retrieved memories (mid/long) ranked by reciprocal-rank fusion."""
    started = time.perf_counter()
    query = clean_query(query)
    limit = clean_limit(limit)
    tiers = clean_tiers(tiers)
    kinds = clean_kinds(kinds)
    scope = await tenant_scope_aget(agent_id=agent_id, microdao_id=microdao_id)
    timing: dict[str, float] = {}
    degraded = None
    vector_query = None
    if any(tier in (*RETRIEVAL_TIERS, FACTS_TIER) for tier in tiers):
        vector_query, degraded = await query_vector_aget(scope=scope, query=query, timing=timing)
    items = await sync_to_async(memory_search_run)(
        scope=scope,
        query=query,
        limit=limit,
        tiers=tiers,
        channel_id=channel_id,
        kinds=kinds,
        vector_query=vector_query,
        timing=timing,
    )
    if FACTS_TIER in tiers:  # current facts rank with the retrieved memories (docs/memory-facts.md)
        items = await facts_rank_with(
            items, scope=scope, query=query, limit=limit, vector_query=vector_query, timing=timing
        )
    timing["total"] = _ms(started)
    return MemoryQueryResult(items=items, timing_ms=timing, degraded=degraded)


async def query_vector_aget(
    *, scope: TenantScope, query: str, timing: dict[str, float]
) -> tuple[search.VectorQuery | None, str | None]:
    config = await embedding_config_aget(microdao_id=scope.microdao_id)
    model = config.serving_model
    space = space_cache.peek(model) or await sync_to_async(embedding_space_get)(model=model)
    if space is None:  # nothing embedded with this model yet: full-text finds everything
        return None, None
    started = time.perf_counter()
    try:
        vectors, dimensions = await embed_texts(
            model=model,
            texts=[query],
            agent_id=scope.agent_id,
            microdao_id=scope.microdao_id,
            input_type="query",
        )
    except ApiError as exc:
        logger.warning("query embedding failed (%s); full-text only", exc.error_type)
        return None, f"embedding unavailable ({exc.error_type}): full-text results only"
    finally:
        timing["embed"] = _ms(started)
    if dimensions != space.dimensions:
        return None, (
            f"embedding model {model!r} returned {dimensions} dimensions, stored vectors have "
            f"{space.dimensions}: full-text results only"
        )
    return search.VectorQuery(model=model, dimensions=dimensions, vector=vectors[0]), None


def memory_admin_search(*, scope: TenantScope, query: str, limit: int = 50) -> list[MemoryItem]:
    """The API's retrieval for the admin memory browser (sync; embeds through the gateway)."""
    timing: dict[str, float] = {}
    vector_query, _ = async_to_sync(query_vector_aget)(scope=scope, query=query, timing=timing)
    return memory_search_run(
        scope=scope,
        query=clean_query(query),
        limit=limit,
        tiers=list(RETRIEVAL_TIERS),
        vector_query=vector_query,
        timing=timing,
    )


def memory_recent_list(
    *, agent_id: str, microdao_id: str, channel_id: str, limit: int = 20
) -> list[MemoryItem]:
    """The channel's latest messages in the caller's scope, oldest first."""
    scope = tenant_scope_get(agent_id=agent_id, microdao_id=microdao_id)
    items = search.channel_recent(scope=scope, channel_id=channel_id, limit=clean_limit(limit))
    return _decode_metadata(items)


def memory_get_in_scope(*, scope: TenantScope, memory_id: int) -> Memory | None:
    queryset = Memory.objects.filter(pk=memory_id, microdao_id=scope.microdao_id)
    if not scope.shares_memory:
        queryset = queryset.filter(agent_id=scope.agent_id)
    return queryset.first()


def document_list(*, microdao_id: str) -> list[Document]:
    if not MicroDAO.objects.filter(pk=microdao_id).exists():
        raise NotFound(f"Unknown microDAO {microdao_id!r}.")
    return list(Document.objects.filter(microdao_id=microdao_id).order_by("source"))


def memory_digest(
    *, agent_id: str, microdao_id: str, channel_id: str | None, limit: int = 10
) -> tuple[str, int]:
    """An extractive digest of the latest memories (the old /summarize endpoint), no LLM."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise BadRequest(f"`limit` must be an integer from 1 to 100, got {limit!r}.")
    scope = tenant_scope_get(agent_id=agent_id, microdao_id=microdao_id)
    queryset = Memory.objects.filter(microdao_id=microdao_id, document__isnull=True)
    if not scope.shares_memory:
        queryset = queryset.filter(agent_id=agent_id)
    if channel_id:
        queryset = queryset.filter(channel_id=channel_id)
    memories = list(queryset.order_by("-created_at", "-id")[:limit])[::-1]
    if not memories:
        return "No memories yet.", 0
    first, last = memories[0].created_at, memories[-1].created_at
    lines = [f"{len(memories)} memories from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC:"]
    for memory in memories:
        text = " ".join(memory.text.split())
        lines.append(f"- [{memory.created_at:%Y-%m-%d %H:%M}] {text[:200]}")
    return "\n".join(lines), len(memories)


def memory_backlog() -> dict[str, int]:
    """Work waiting for an operator: memories without embeddings and reindex jobs that failed
    some memories or never finished (for the admin overview)."""
    from memory.models import ReindexJob

    return {
        "pending_embeddings": Memory.objects.filter(embedding_pending=True).count(),
        "jobs_with_failures": ReindexJob.objects.filter(failed__gt=0).count(),
        "jobs_running": ReindexJob.objects.filter(status=ReindexJob.Status.RUNNING).count(),
    }
