"""Reads on facts: hybrid retrieval (current, or as of a date), a fact's history, a memory's facts.

Retrieval mirrors memory/search.py (vector + full-text fused by reciprocal rank, same 0..1
score) so facts rank with the other tiers; each result carries its provenance (source memories)
and the score breakdown in `metadata`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.conf import settings
from django.db import connection

from memory.facts.models import Fact, FactEmbedding, FactSource, FactStatus
from memory.models import TEXT_SEARCH_CONFIG
from memory.search import vector_literal
from memory.textsearch import build_tsquery
from memory.types import MemoryItem, TenantScope

FACTS_TIER = "facts"
FACT_TABLE = Fact._meta.db_table
FACT_EMBEDDING_TABLE = FactEmbedding._meta.db_table


def _where(scope: TenantScope, as_of: dt.datetime | None, include_superseded: bool, params: dict):
    params["microdao_id"] = scope.microdao_id
    clauses = ["f.microdao_id = %(microdao_id)s"]
    if not scope.shares_memory:
        params["agent_id"] = scope.agent_id
        clauses.append("f.agent_id = %(agent_id)s")
    if as_of is not None:
        params["as_of"] = as_of
        clauses.append(
            "f.status IN ('current', 'superseded') AND f.valid_from <= %(as_of)s "
            "AND (f.valid_until IS NULL OR f.valid_until > %(as_of)s)"
        )
    elif include_superseded:
        clauses.append("f.status IN ('current', 'superseded')")
    else:
        clauses.append("f.status = 'current'")
    return " AND ".join(clauses)


def fact_search(
    *,
    scope: TenantScope,
    query: str,
    limit: int,
    vector_model: str | None = None,
    vector: Sequence[float] | None = None,
    as_of: dt.datetime | None = None,
    include_superseded: bool = False,
) -> list[MemoryItem]:
    """The best facts for `query` in the scope (current ones unless `as_of`/superseded asked)."""
    tsquery = build_tsquery(query)
    if vector is None and not tsquery:
        return []
    rrf_k = int(settings.MEMORY_RRF_K)
    params: dict = {"candidates": max(limit * 2, int(settings.MEMORY_SEARCH_CANDIDATES))}
    where = _where(scope, as_of, include_superseded, params)
    ctes, lists = [], []
    if vector is not None:
        params["vector"] = vector_literal(vector)
        params["model"] = vector_model
        ctes.append(
            f"""vec AS MATERIALIZED (
                SELECT f.id, e.embedding <=> %(vector)s::vector AS distance
                FROM {FACT_TABLE} f JOIN {FACT_EMBEDDING_TABLE} e
                     ON e.fact_id = f.id AND e.model = %(model)s
                WHERE {where} ORDER BY distance, f.id LIMIT %(candidates)s),
            vec_ranked AS (SELECT id, distance,
                row_number() OVER (ORDER BY distance, id) AS rank FROM vec)"""  # noqa: S608
        )
        lists.append("v")
    if tsquery:
        params["tsquery"] = tsquery
        ctes.append(
            f"""fts AS MATERIALIZED (
                SELECT f.id, ts_rank(f.search_vector, q.query) AS text_rank
                FROM {FACT_TABLE} f, to_tsquery('{TEXT_SEARCH_CONFIG}', %(tsquery)s) q(query)
                WHERE f.search_vector @@ q.query AND {where}
                ORDER BY text_rank DESC, f.id DESC LIMIT %(candidates)s),
            fts_ranked AS (SELECT id, text_rank,
                row_number() OVER (ORDER BY text_rank DESC, id DESC) AS rank FROM fts)"""  # noqa: S608
        )
        lists.append("t")
    v = (
        "vec_ranked"
        if "v" in lists
        else "(SELECT NULL::bigint id, NULL::float distance, NULL::bigint rank WHERE FALSE)"
    )
    t = (
        "fts_ranked"
        if "t" in lists
        else "(SELECT NULL::bigint id, NULL::float text_rank, NULL::bigint rank WHERE FALSE)"
    )
    params["limit"] = limit
    sql = f"""WITH {", ".join(ctes)},
        fused AS (
            SELECT COALESCE(v.id, t.id) AS id, v.rank AS vector_rank, v.distance,
                   t.rank AS text_rank_position, t.text_rank,
                   COALESCE(1.0 / ({rrf_k} + v.rank), 0) + COALESCE(1.0 / ({rrf_k} + t.rank), 0)
                       AS rrf
            FROM {v} v FULL OUTER JOIN {t} t ON t.id = v.id)
        SELECT f.id, f.subject, f.text, f.status, f.valid_from, f.valid_until,
               f.superseded_by_id, f.created_at, f.origin, fused.vector_rank, fused.distance,
               fused.text_rank_position, fused.text_rank, fused.rrf
        FROM fused JOIN {FACT_TABLE} f ON f.id = fused.id
        ORDER BY (f.status = 'current') DESC, fused.rrf DESC, f.valid_from DESC, f.id DESC
        LIMIT %(limit)s"""  # noqa: S608  (table names from models; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    best_possible = len(lists) / (rrf_k + 1)
    sources = fact_sources(fact_ids=[row[0] for row in rows])
    items = []
    for row in rows:
        (
            fact_id,
            subject,
            text,
            status,
            valid_from,
            valid_until,
            superseded_by,
            created_at,
            origin,
            vector_rank,
            distance,
            text_position,
            text_rank,
            rrf,
        ) = row
        items.append(
            MemoryItem(
                id=f"fact:{fact_id}",
                tier=FACTS_TIER,
                kind="fact",
                text=text,
                score=round(min(1.0, float(rrf) / best_possible), 6),
                created_at=created_at,
                metadata={
                    "fact_id": fact_id,
                    "subject": subject,
                    "status": status,
                    "origin": origin,
                    "valid_from": valid_from.isoformat(),
                    "valid_until": valid_until.isoformat() if valid_until else None,
                    "superseded_by": superseded_by,
                    "sources": sources.get(fact_id, []),
                    "score_breakdown": {
                        "vector_rank": vector_rank,
                        "vector_distance": round(float(distance), 6)
                        if distance is not None
                        else None,
                        "text_rank": text_position,
                        "text_score": round(float(text_rank), 6) if text_rank is not None else None,
                        "rrf": round(float(rrf), 6),
                        "rrf_k": rrf_k,
                    },
                },
            )
        )
    return items


def fact_sources(*, fact_ids: Sequence[int]) -> dict[int, list[dict]]:
    """Provenance: the memories each fact came from, oldest first."""
    out: dict[int, list[dict]] = {}
    rows = (
        FactSource.objects.filter(fact_id__in=list(fact_ids))
        .select_related("memory")
        .order_by("memory__created_at", "memory_id")
    )
    for source in rows:
        memory = source.memory
        out.setdefault(source.fact_id, []).append(
            {
                "memory_id": str(memory.pk),
                "channel_id": memory.channel_id,
                "created_at": memory.created_at.isoformat(),
                "excerpt": " ".join(memory.text.split())[:200],
            }
        )
    return out


def fact_history(*, fact: Fact) -> list[Fact]:
    """Every version of the fact's line, oldest first (following supersede links both ways)."""
    chain = [fact]
    seen = {fact.pk}
    older = Fact.objects.filter(superseded_by=fact).order_by("-valid_from").first()
    while older is not None and older.pk not in seen:
        chain.insert(0, older)
        seen.add(older.pk)
        older = Fact.objects.filter(superseded_by=older).order_by("-valid_from").first()
    newer = fact.superseded_by
    while newer is not None and newer.pk not in seen:
        chain.append(newer)
        seen.add(newer.pk)
        newer = newer.superseded_by
    return chain


def facts_of_memory(*, memory_id: int) -> list[Fact]:
    return list(Fact.objects.filter(sources__memory_id=memory_id).order_by("-valid_from", "-id"))


def facts_list(*, scope: TenantScope, status: str | None = None, limit: int = 100) -> list[Fact]:
    queryset = Fact.objects.filter(microdao_id=scope.microdao_id)
    if not scope.shares_memory:
        queryset = queryset.filter(agent_id=scope.agent_id)
    if status is not None:
        queryset = queryset.filter(status=status)
    return list(queryset.order_by("-valid_from", "-id")[:limit])


__all__ = ["FACTS_TIER", "FactStatus", "fact_history", "fact_search", "facts_list"]


async def facts_rank_with(
    items: list[MemoryItem], *, scope: TenantScope, query: str, limit: int, vector_query, timing
) -> list[MemoryItem]:
    """Merge current facts into a query's results: the short-term block stays first, then
    retrieved memories and facts by score (a fact first on a tie), `limit` of them."""
    import time

    from asgiref.sync import sync_to_async

    started = time.perf_counter()
    facts = await sync_to_async(fact_search)(
        scope=scope,
        query=query,
        limit=limit,
        vector_model=vector_query.model if vector_query is not None else None,
        vector=vector_query.vector if vector_query is not None else None,
    )
    timing["facts"] = round((time.perf_counter() - started) * 1000, 2)
    if not facts:
        return items
    short = [item for item in items if item.tier == "short"]
    ranked = [item for item in items if item.tier != "short"] + facts
    ranked.sort(key=lambda item: (-item.score, item.tier != FACTS_TIER))
    return short + ranked[:limit]
