"""Embedding spaces: one per embedding model, each with its own partial HNSW expression index
(on the microDAO-partitioned embeddings table, so one graph per microDAO: memory/partitions.py).

`memory_memoryembedding.embedding` is an untyped `vector`; an index and a query both cast it to
the model's dimensions, and the partial predicate `model = '…'` keeps each model's rows apart.
The index stores `halfvec` (16-bit floats): half the pages of `vector`, which the benchmark
measured 2-3x faster at the same recall, and it covers up to 4,000 dimensions; the column keeps
full 32-bit vectors. The model name is checked against a strict pattern before it enters SQL.
"""

from __future__ import annotations

import hashlib
import logging
import re

from django.conf import settings
from django.db import connection

from daarion.common.errors import BadRequest
from daarion.common.registry_cache import RegistryCache
from memory.models import EmbeddingSpace, MemoryEmbedding
from memory.partitions import partition_tables, sql_string

logger = logging.getLogger(__name__)

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
MAX_HALFVEC_DIMS = 4000  # pgvector's HNSW limit for halfvec

space_cache: RegistryCache[EmbeddingSpace | None] = RegistryCache("memory-spaces", ttl=300.0)


def validate_model_name(model: str) -> str:
    if not MODEL_NAME.match(model):
        raise BadRequest(f"Embedding model name {model!r} has characters that are not allowed.")
    return model


def sql_literal(model: str) -> str:
    """The model name as an SQL string literal (validated first, quotes doubled anyway)."""
    return sql_string(validate_model_name(model))


def index_type(dimensions: int) -> str:
    """The type both the HNSW index and a query cast the untyped column to."""
    return f"halfvec({int(dimensions)})"


def index_name_for(model: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:28]
    digest = hashlib.sha1(model.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"memory_hnswh_{slug}_{digest}"


def index_sql(
    space: EmbeddingSpace,
    *,
    concurrently: bool,
    table: str = "",
    name: str = "",
    only: bool = False,
) -> str:
    """The model's partial HNSW index: on the parent ONLY (the partitions' own are attached to
    it), or on one partition `table` under `name`."""
    dims = space.dimensions
    target = table or MemoryEmbedding._meta.db_table
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS "
        f"{name or space.index_name} ON {'ONLY ' if only else ''}{target} "
        f"USING hnsw ((embedding::{index_type(dims)}) halfvec_cosine_ops) "
        f"WITH (m = {int(settings.MEMORY_HNSW_M)}, "
        f"ef_construction = {int(settings.MEMORY_HNSW_EF_CONSTRUCTION)}) "
        f"WHERE model = {sql_literal(space.model)}"
    )


def embedding_space_get(*, model: str) -> EmbeddingSpace | None:
    return space_cache.get(model, lambda: EmbeddingSpace.objects.filter(pk=model).first())


def embedding_space_ensure(
    *, model: str, dimensions: int, build_index: bool = True
) -> EmbeddingSpace:
    """The model's space, creating its row and HNSW index the first time (idempotent).

    A reindex to a new model passes `build_index=False` and builds the index once the vectors
    are in (one bulk HNSW build is much faster than as many single inserts).
    """
    validate_model_name(model)
    if not 1 <= dimensions <= MAX_HALFVEC_DIMS:
        raise BadRequest(f"Embedding model {model!r} has {dimensions} dimensions (1 to 4000 work).")
    space = embedding_space_get(model=model)
    if space is not None:
        if space.dimensions != dimensions:
            raise BadRequest(
                f"Embedding model {model!r} now returns {dimensions} dimensions, but its stored "
                f"vectors have {space.dimensions}: give the new model another route name."
            )
        return space
    space, _ = EmbeddingSpace.objects.get_or_create(
        model=model, defaults={"dimensions": dimensions, "index_name": index_name_for(model)}
    )
    if build_index:
        embedding_index_build(space=space)
    space_cache.invalidate(model)
    return space


def embedding_index_build(*, space: EmbeddingSpace) -> None:
    """Create the model's HNSW index where missing, one per partition of the embeddings table:
    the parent's index ONLY, then each partition's that is missing — CONCURRENTLY unless inside
    a transaction, so writes go on — attached to it (the parent's is valid once all are).
    Partitions made later get theirs as they attach."""
    concurrently = not connection.in_atomic_block
    with connection.cursor() as cursor:
        # A bigger build memory keeps the HNSW graph in RAM while it is built (much faster).
        cursor.execute(
            f"SET maintenance_work_mem = '{int(settings.MEMORY_INDEX_BUILD_MEMORY_MB)}MB'"
        )
        cursor.execute(index_sql(space, concurrently=False, only=True))
        for table in _partitions_without_index(cursor, space.index_name):
            # memory_hnswh_<model digest>_<partition suffix>: unique, under 63 characters.
            child = f"memory_hnswh_{space.index_name[-8:]}_{table.rsplit('_', 1)[-1][-16:]}"
            cursor.execute(index_sql(space, concurrently=concurrently, table=table, name=child))
            cursor.execute(f"ALTER INDEX {space.index_name} ATTACH PARTITION {child}")
        cursor.execute("RESET maintenance_work_mem")
    logger.info("HNSW index %s ready for %s", space.index_name, space.model)


def _partitions_without_index(cursor, index_name: str) -> list[str]:
    """Partitions of the embeddings table that have no index attached to `index_name`."""
    cursor.execute(
        "SELECT x.indrelid::regclass::text FROM pg_partition_tree(%s::regclass) t "
        "JOIN pg_index x ON x.indexrelid = t.relid WHERE t.isleaf",
        [index_name],
    )
    indexed = {row[0] for row in cursor.fetchall()}
    return [table for table in partition_tables() if table not in indexed]
