"""/internal/agent-memory/facts: query (current or as of a date), history, correct, edit.

Forgetting is `DELETE /internal/agent-memory/memories/{id}` (memory, vectors and derived facts).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from memory.facts import selectors, services
from memory.facts.models import Fact, FactStatus
from memory.facts.pipeline import fact_vector
from memory.selectors import query_vector_aget
from memory.validation import clean_limit, clean_query, tenant_scope_aget, tenant_scope_get

router = Router(tags=["memory facts"])


class FactQueryIn(Schema):
    agent_id: str = Field(max_length=64)
    microdao_id: str = Field(max_length=64)
    query: str
    limit: int = 5
    as_of: dt.datetime | None = None  # what was believed then
    include_superseded: bool = False


class FactItemOut(Schema):
    id: str
    tier: str
    text: str
    score: float
    metadata: dict[str, Any]
    created_at: dt.datetime


class FactQueryOut(Schema):
    items: list[FactItemOut]
    total: int
    as_of: dt.datetime | None = None
    degraded: str | None = None


class FactOut(Schema):
    id: int
    subject: str
    text: str
    status: str
    origin: str
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    superseded_by: int | None
    sources: list[dict[str, Any]] = []


class FactHistoryOut(Schema):
    fact: FactOut
    versions: list[FactOut]


class FactEditIn(Schema):
    agent_id: str = Field(max_length=64)
    microdao_id: str = Field(max_length=64)
    text: str
    subject: str | None = Field(None, max_length=200)


class FactScopeIn(Schema):
    agent_id: str = Field(max_length=64)
    microdao_id: str = Field(max_length=64)


def fact_out(fact: Fact, sources: dict[int, list[dict]] | None = None) -> dict:
    return {
        "id": fact.pk,
        "subject": fact.subject,
        "text": fact.text,
        "status": fact.status,
        "origin": fact.origin,
        "valid_from": fact.valid_from,
        "valid_until": fact.valid_until,
        "superseded_by": fact.superseded_by_id,
        "sources": (sources or {}).get(fact.pk, []),
    }


@router.post("/query", response=FactQueryOut)
async def query(request: HttpRequest, payload: FactQueryIn):
    request.auth.ensure_can_act_as(payload.agent_id)
    text = clean_query(payload.query)
    limit = clean_limit(payload.limit)
    as_of = payload.as_of
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)  # a date without a zone means UTC
    scope = await tenant_scope_aget(agent_id=payload.agent_id, microdao_id=payload.microdao_id)
    vector_query, degraded = await query_vector_aget(scope=scope, query=text, timing={})
    items = await sync_to_async(selectors.fact_search)(
        scope=scope,
        query=text,
        limit=limit,
        vector_model=vector_query.model if vector_query else None,
        vector=vector_query.vector if vector_query else None,
        as_of=as_of,
        include_superseded=payload.include_superseded,
    )
    return {
        "items": [
            {
                "id": i.id,
                "tier": i.tier,
                "text": i.text,
                "score": i.score,
                "metadata": i.metadata,
                "created_at": i.created_at,
            }
            for i in items
        ],
        "total": len(items),
        "as_of": as_of,
        "degraded": degraded,
    }


def _list(agent_id: str, microdao_id: str, status: str | None, limit: int) -> list[dict]:
    scope = tenant_scope_get(agent_id=agent_id, microdao_id=microdao_id)
    if status is not None and status not in FactStatus.values:
        from daarion.common.errors import BadRequest

        raise BadRequest(f"`status` must be one of {FactStatus.values}.")
    facts = selectors.facts_list(scope=scope, status=status, limit=clean_limit(limit))
    sources = selectors.fact_sources(fact_ids=[fact.pk for fact in facts])
    return [fact_out(fact, sources) for fact in facts]


@router.get("", response=list[FactOut])
async def list_facts(
    request: HttpRequest,
    agent_id: str,
    microdao_id: str,
    status: str | None = None,
    limit: int = 50,
):
    request.auth.ensure_can_act_as(agent_id)
    return await sync_to_async(_list)(agent_id, microdao_id, status, limit)


def _history(agent_id: str, microdao_id: str, fact_id: int) -> dict:
    scope = tenant_scope_get(agent_id=agent_id, microdao_id=microdao_id)
    fact = services.fact_get_in_scope(scope=scope, fact_id=fact_id)
    versions = selectors.fact_history(fact=fact)
    sources = selectors.fact_sources(fact_ids=[version.pk for version in versions])
    return {
        "fact": fact_out(fact, sources),
        "versions": [fact_out(version, sources) for version in versions],
    }


@router.get("/{fact_id}", response=FactHistoryOut)
async def history(request: HttpRequest, fact_id: int, agent_id: str, microdao_id: str):
    request.auth.ensure_can_act_as(agent_id)
    return await sync_to_async(_history)(agent_id, microdao_id, fact_id)


def _incorrect(agent_id: str, microdao_id: str, fact_id: int) -> dict:
    scope = tenant_scope_get(agent_id=agent_id, microdao_id=microdao_id)
    fact = services.fact_mark_incorrect(scope=scope, fact_id=fact_id, actor=f"api:{agent_id}")
    return fact_out(fact, selectors.fact_sources(fact_ids=[fact.pk]))


@router.post("/{fact_id}/incorrect", response=FactOut)
async def mark_incorrect(request: HttpRequest, fact_id: int, payload: FactScopeIn):
    request.auth.ensure_can_act_as(payload.agent_id)
    return await sync_to_async(_incorrect)(payload.agent_id, payload.microdao_id, fact_id)


@router.post("/{fact_id}/edit", response=FactOut)
async def edit(request: HttpRequest, fact_id: int, payload: FactEditIn):
    """A new version superseding the fact; the old one stays in the history."""
    request.auth.ensure_can_act_as(payload.agent_id)
    scope = await tenant_scope_aget(agent_id=payload.agent_id, microdao_id=payload.microdao_id)
    fact = await sync_to_async(services.fact_edit)(
        scope=scope,
        fact_id=fact_id,
        text=payload.text,
        subject=payload.subject,
        actor=f"api:{payload.agent_id}",
    )
    await fact_embed_save(fact)
    sources = await sync_to_async(selectors.fact_sources)(fact_ids=[fact.pk])
    return fact_out(fact, sources)


async def fact_embed_save(fact: Fact) -> None:
    """Vector for an edited fact (best effort: without it the fact is found by full text)."""
    vector = await fact_vector(
        subject=fact.subject, text=fact.text, microdao_id=fact.microdao_id, agent_id=fact.agent_id
    )
    await sync_to_async(services.fact_vector_save)(fact=fact, vector=vector)
