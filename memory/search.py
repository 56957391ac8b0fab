"""Hybrid retrieval: HNSW vector search + PostgreSQL full-text, fused by weighted reciprocal rank.

fused = w_vector / (k + vector rank) + w_text / (k + text rank), a list's term 0 when the memory
is not in it; the weights come from Memory settings (global, per microDAO). The full-text side
ranks at most MEMORY_TEXT_MATCH_MAX matching rows: in a big tenant a common word matches a large
share of its rows, and ranking them all (reading every tsvector) was the slowest part at 1M.

One SQL statement per query, inside the caller's tenant. Both candidate lists are filtered by
microDAO (and agent, unless the microDAO shares memory) *inside* the scan: the vector side runs
with pgvector's iterative index scan (`hnsw.iterative_scan = relaxed_order`), so a filtered HNSW
scan keeps walking the graph until it has enough matching rows instead of returning the few
that happened to be among the first `ef_search` candidates. The settings are `SET LOCAL`, hence
the transaction around the statement (which runs in one thread, never across an await).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from daarion.common.registry_cache import RegistryCache
from memory.models import TEXT_SEARCH_CONFIG, Memory, MemoryEmbedding
from memory.partitions import partition_table_of
from memory.spaces import index_type, sql_literal
from memory.types import MemoryItem, TenantScope

MEMORY_TABLE = Memory._meta.db_table
EMBEDDING_TABLE = MemoryEmbedding._meta.db_table


@dataclass(frozen=True, slots=True)
class VectorQuery:
    model: str
    dimensions: int
    vector: Sequence[float]
    # Scan the tenant's vectors exactly instead of walking the HNSW graph: for a small tenant in
    # a big table that is both faster (no graph walk rejecting other tenants' rows) and exact.
    exact: bool = False


# Tenant sizes per model, to choose exact or HNSW search; a few minutes stale is fine.
tenant_size_cache: RegistryCache[int] = RegistryCache("memory-tenant-sizes", ttl=300.0)


def tenant_vector_count(*, scope: TenantScope, model: str, whole_partition: bool = False) -> int:
    """How many vectors of `model` the scope can read, or (whole_partition) how many the table
    holding the scope's microDAO holds — its own partition, or the DEFAULT one (cached)."""
    if whole_partition:
        key: tuple = ("partition", scope.microdao_id, model)
    else:
        key = (scope.microdao_id, scope.agent_id if not scope.shares_memory else "", model)

    def load() -> int:
        params: dict = {}
        if whole_partition:
            table, where = partition_table_of(scope.microdao_id), "TRUE"
        else:
            table, where = EMBEDDING_TABLE, _tenant_sql("e", scope, params)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {table} e "  # noqa: S608  (see module doc)
                f"WHERE e.model = {sql_literal(model)} AND {where}",
                params,
            )
            return int(cursor.fetchone()[0])

    return tenant_size_cache.get(key, load)


def exact_search_preferred(*, scope: TenantScope, model: str) -> bool:
    """Exact scan for a tenant that is small, or a small share of the HNSW graph it is in.

    A filtered HNSW walk costs about 1/share graph steps (each rejected row a heap visit); an
    exact scan costs one visit per tenant row. The graph is the one of the microDAO's partition:
    a microDAO in its own is all of it (agent-scoped reads are a share of it); one still in the
    DEFAULT partition shares its graph with the others there.
    """
    rows = tenant_vector_count(scope=scope, model=model)
    if rows <= settings.MEMORY_EXACT_SEARCH_MAX_ROWS:
        return True
    total = tenant_vector_count(scope=scope, model=model, whole_partition=True)
    return rows < total * settings.MEMORY_EXACT_SEARCH_MAX_SHARE


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form; 7 significant digits is all a float32 keeps."""
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _tenant_sql(alias: str, scope: TenantScope, params: dict) -> str:
    params["microdao_id"] = scope.microdao_id
    if scope.shares_memory:
        return f"{alias}.microdao_id = %(microdao_id)s"
    params["agent_id"] = scope.agent_id
    # Microdao-wide knowledge (agent NULL) is every agent's; other memories are the agent's own.
    return (
        f"{alias}.microdao_id = %(microdao_id)s "
        f"AND ({alias}.agent_id = %(agent_id)s OR {alias}.agent_id IS NULL)"
    )


def _filters_sql(
    alias: str,
    scope: TenantScope,
    tiers: Sequence[str],
    kinds: Sequence[str] | None,
    exclude_ids: Sequence[int],
    params: dict,
    id_column: str,
) -> str:
    clauses = [_tenant_sql(alias, scope, params), f"{alias}.tier = ANY(%(tiers)s)"]
    params["tiers"] = list(tiers)
    if kinds:
        params["kinds"] = list(kinds)
        clauses.append(f"{alias}.kind = ANY(%(kinds)s)")
    if exclude_ids:
        params["exclude_ids"] = list(exclude_ids)
        clauses.append(f"NOT ({alias}.{id_column} = ANY(%(exclude_ids)s))")
    return " AND ".join(clauses)


_iterative_scans: dict[str, bool] = {}


def _scan_settings_sql(candidates: int) -> str:
    """`SET LOCAL`s for the vector scan. pgvector < 0.8 has no iterative scans: there a wider
    ef_search is the fallback (fewer results for very small tenants; the README says so)."""
    ef_search = max(int(settings.MEMORY_HNSW_EF_SEARCH), candidates)
    alias = connection.alias
    if alias not in _iterative_scans:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
        version = tuple(int(part) for part in (row[0] if row else "0").split(".")[:2])
        _iterative_scans[alias] = version >= (0, 8)
    if not _iterative_scans[alias]:
        return f"SET LOCAL hnsw.ef_search = {min(1000, ef_search * 4)}"
    return (
        "SET LOCAL hnsw.iterative_scan = relaxed_order; "
        f"SET LOCAL hnsw.ef_search = {ef_search}; "
        f"SET LOCAL hnsw.max_scan_tuples = {int(settings.MEMORY_HNSW_MAX_SCAN_TUPLES)}"
    )


def hybrid_search(
    *,
    scope: TenantScope,
    tsquery: str,
    vector_query: VectorQuery | None,
    tiers: Sequence[str],
    limit: int,
    kinds: Sequence[str] | None = None,
    exclude_ids: Sequence[int] = (),
    vector_weight: float = 1.0,
    text_weight: float = 1.0,
) -> list[MemoryItem]:
    """The `limit` best memories of `tiers` in the scope, ranked by weighted rank fusion."""
    if not tiers or (vector_query is None and not tsquery):
        return []
    candidates = max(limit * 2, int(settings.MEMORY_SEARCH_CANDIDATES))
    rrf_k = int(settings.MEMORY_RRF_K)
    weights = {"vec_ranked": float(vector_weight), "fts_ranked": float(text_weight)}
    params: dict = {
        "candidates": candidates,
        "limit": limit,
        "text_matches": max(candidates, int(settings.MEMORY_TEXT_MATCH_MAX)),
        "vector_weight": weights["vec_ranked"],
        "text_weight": weights["fts_ranked"],
    }
    ctes: list[str] = []
    lists: list[str] = []
    if vector_query is not None:
        vtype = index_type(vector_query.dimensions)
        params["query_vector"] = vector_literal(vector_query.vector)
        if vector_query.exact:  # full precision, and an expression no index matches
            distance = "(e.embedding <=> %(query_vector)s::vector)"
        else:
            distance = f"(e.embedding::{vtype} <=> %(query_vector)s::{vtype})"
        where = _filters_sql("e", scope, tiers, kinds, exclude_ids, params, "memory_id")
        ctes.append(
            f"""vec AS MATERIALIZED (
                SELECT e.memory_id, {distance} AS distance
                FROM {EMBEDDING_TABLE} e
                WHERE e.model = {sql_literal(vector_query.model)} AND {where}
                ORDER BY {distance}
                LIMIT %(candidates)s
            ),
            vec_ranked AS (
                SELECT memory_id, distance,
                       row_number() OVER (ORDER BY distance, memory_id) AS rank
                FROM vec
            )"""  # noqa: S608  (constants, validated names and ints; values are parameters)
        )
        lists.append("vec_ranked")
    if tsquery:
        params["tsquery"] = tsquery
        where = _filters_sql("m", scope, tiers, kinds, exclude_ids, params, "id")
        ctes.append(
            # The query inline (not a CTE) so the planner estimates its selectivity from the
            # column's lexeme statistics and picks the GIN bitmap for a selective query.
            f"""fts_hits AS MATERIALIZED (
                SELECT m.id, m.search_vector
                FROM {MEMORY_TABLE} m
                WHERE m.search_vector @@ to_tsquery('{TEXT_SEARCH_CONFIG}', %(tsquery)s)
                  AND {where}
                LIMIT %(text_matches)s
            ),
            fts AS MATERIALIZED (
                SELECT h.id AS memory_id,
                       ts_rank(h.search_vector, to_tsquery('{TEXT_SEARCH_CONFIG}', %(tsquery)s))
                         AS text_rank
                FROM fts_hits h
                ORDER BY text_rank DESC, h.id DESC
                LIMIT %(candidates)s
            ),
            fts_ranked AS (
                SELECT memory_id, text_rank,
                       row_number() OVER (ORDER BY text_rank DESC, memory_id DESC) AS rank
                FROM fts
            )"""  # noqa: S608
        )
        lists.append("fts_ranked")

    v_rank, v_score = ("v.rank", "v.distance") if "vec_ranked" in lists else ("NULL", "NULL")
    f_rank, f_score = ("f.rank", "f.text_rank") if "fts_ranked" in lists else ("NULL", "NULL")
    if len(lists) == 2:
        source = "vec_ranked v FULL OUTER JOIN fts_ranked f ON f.memory_id = v.memory_id"
        memory_id = "COALESCE(v.memory_id, f.memory_id)"
    else:
        source = f"{lists[0]} {lists[0][0]}"
        memory_id = f"{lists[0][0]}.memory_id"
    fused = f"""fused AS (
        SELECT {memory_id} AS memory_id,
               {v_rank}::bigint AS v_rank, {v_score}::float8 AS distance,
               {f_rank}::bigint AS f_rank, {f_score}::float8 AS text_rank,
               COALESCE(%(vector_weight)s / ({rrf_k} + {v_rank}), 0)
                 + COALESCE(%(text_weight)s / ({rrf_k} + {f_rank}), 0) AS rrf
        FROM {source}
    )"""  # noqa: S608  (constants and ints; the weights are parameters)
    sql = f"""WITH {", ".join(ctes)}, {fused}
        SELECT m.id, m.tier, m.kind, m.text, m.metadata, m.created_at, fused.rrf,
               fused.v_rank, fused.distance, fused.f_rank, fused.text_rank
        FROM fused JOIN {MEMORY_TABLE} m ON m.id = fused.memory_id
        ORDER BY fused.rrf DESC, m.id DESC
        LIMIT %(limit)s"""  # noqa: S608
    # Rank 1 in every list → score 1.0 (a list with weight 0 cannot add anything).
    best_possible = sum(weights[name] for name in lists) / (rrf_k + 1) or 1.0

    with transaction.atomic(), connection.cursor() as cursor:
        if vector_query is not None and not vector_query.exact:
            cursor.execute(_scan_settings_sql(candidates))
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        MemoryItem(
            id=str(row[0]),
            tier=row[1],
            kind=row[2],
            text=row[3],
            metadata=row[4] or {},
            created_at=row[5],
            score=round(min(1.0, float(row[6]) / best_possible), 6),
            score_breakdown=_breakdown(row, weights),
        )
        for row in rows
    ]


def _breakdown(row, weights: dict[str, float]) -> dict:
    """Why an item ranked where it did: each list's rank and raw score, the weights, the sum."""
    v_rank, distance, f_rank, text_rank = row[7], row[8], row[9], row[10]
    return {
        "vector_rank": v_rank,
        # Cosine similarity (1 - cosine distance) of the query and memory vectors.
        "vector_score": None if distance is None else round(1.0 - float(distance), 6),
        "text_rank": f_rank,
        "text_score": None if text_rank is None else round(float(text_rank), 6),  # ts_rank
        "vector_weight": weights["vec_ranked"],
        "text_weight": weights["fts_ranked"],
        "fused": round(float(row[6]), 6),
    }


def channel_recent(
    *, scope: TenantScope, channel_id: str, limit: int, kinds: Sequence[str] | None = None
) -> list[MemoryItem]:
    """The channel's latest `limit` memories in the scope, oldest first (conversation order)."""
    params: dict = {"channel_id": channel_id, "limit": limit}
    where = _tenant_sql("m", scope, params)
    if kinds:
        params["kinds"] = list(kinds)
        where += " AND m.kind = ANY(%(kinds)s)"
    sql = f"""SELECT m.id, m.kind, m.text, m.metadata, m.created_at
        FROM {MEMORY_TABLE} m
        WHERE {where} AND m.channel_id = %(channel_id)s AND m.document_id IS NULL
        ORDER BY m.created_at DESC, m.id DESC
        LIMIT %(limit)s"""  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    count = len(rows)
    items = [
        MemoryItem(
            id=str(row[0]),
            tier="short",
            kind=row[1],
            text=row[2],
            metadata=row[3] or {},
            created_at=row[4],
            # Recency as the score: the newest message 1.0, then evenly down.
            score=round(1.0 - position / max(count, 1), 6),
        )
        for position, row in enumerate(rows)
    ]
    items.reverse()
    return items
