"""Vectors are stored per microDAO: `memory_memoryembedding` is LIST-partitioned on microdao_id.

Why: in one shared table a tenant's rows are spread over the whole heap (one page read per row
for an exact scan) and its HNSW walk rejects every other tenant's rows; at 1M rows that held a
small microDAO's p95 far above the rest. With a partition per microDAO its rows are contiguous
and its HNSW graph holds only its own rows — pgvector's documented answer to filtering on many
values (docs/decisions/0024-embeddings-partitioned-by-microdao.md has the measurements).

Every microDAO gets its partition when it is created (memory.signals); rows of a microDAO
without one land in the DEFAULT partition and `partition_ensure` moves them into a new one, so
a write never fails for want of a partition. The partition key must be part of every unique
key: in the database the primary key is (id, microdao_id) and the unique key (memory_id, model,
microdao_id). A memory never changes microDAO, so they mean what (id) and (memory_id, model)
meant; Django still treats `id` as the primary key (the sequence keeps it unique).
"""

from __future__ import annotations

import hashlib

from django.db import connection, transaction

from memory.models import MemoryEmbedding

PARENT = MemoryEmbedding._meta.db_table
DEFAULT_PARTITION = f"{PARENT}_default"
# Serialises partition DDL between processes (two creations of one partition would collide).
_DDL_LOCK = 0x6D656D70  # "memp"


def partition_suffix(microdao_id: str) -> str:
    """A short stable name part for the microDAO (ids may hold any characters)."""
    return hashlib.sha1(microdao_id.encode(), usedforsecurity=False).hexdigest()[:16]


def partition_name(microdao_id: str) -> str:
    return f"{PARENT}_p{partition_suffix(microdao_id)}"


def sql_string(value: str) -> str:
    """A string literal for DDL, which takes no parameters (standard_conforming_strings is on)."""
    return "'" + value.replace("'", "''") + "'"


def partition_table_of(microdao_id: str) -> str:
    """The table holding the microDAO's vectors: its own partition, or the DEFAULT one."""
    name = partition_name(microdao_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return name if cursor.fetchone()[0] else DEFAULT_PARTITION


def partition_ensure(microdao_id: str) -> bool:
    """Give the microDAO its own partition (moving any rows it has in DEFAULT); True if created.

    CREATE TABLE … (LIKE) then ATTACH rather than CREATE TABLE … PARTITION OF: attaching takes
    only a SHARE UPDATE EXCLUSIVE lock on the parent, so searches and writes go on meanwhile.
    """
    name = partition_name(microdao_id)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DDL_LOCK])
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False
        cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE microdao_id = %s "  # noqa: S608
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
            [microdao_id],
        )
        # Builds the parent's indexes (HNSW ones included) on the new table as it attaches.
        cursor.execute(
            f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
            f"FOR VALUES IN ({sql_string(microdao_id)})"
        )
    return True


def partitions_sync() -> list[str]:
    """Partitions for every microDAO that has none (those made by bulk inserts or fixtures)."""
    from daarion.agents.models import MicroDAO

    return [
        microdao_id
        for microdao_id in MicroDAO.objects.values_list("id", flat=True).order_by("id")
        if partition_ensure(microdao_id)
    ]


def partition_rows() -> list[tuple[str, str, int | None]]:
    """(partition, bound, estimated rows) for every partition, DEFAULT included (from the
    planner's statistics: cheap on a big table, as fresh as the last ANALYZE; None before the
    first one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [PARENT],
        )
        return [
            (name, bound, None if rows < 0 else int(rows))
            for name, bound, rows in cursor.fetchall()
        ]


def partition_tables() -> list[str]:
    """Every partition of the embeddings table, DEFAULT included."""
    return [name for name, _, _ in partition_rows()]


def orphan_partitions() -> list[str]:
    """Partitions whose microDAO was deleted (its vectors went with it; the table stays)."""
    from daarion.agents.models import MicroDAO

    wanted = {partition_name(pk) for pk in MicroDAO.objects.values_list("id", flat=True)}
    return [name for name in partition_tables() if name not in wanted | {DEFAULT_PARTITION}]


def partition_drop(name: str) -> None:
    """Drop one deleted microDAO's (empty) partition. It takes a brief exclusive lock on the
    whole table (DETACH … CONCURRENTLY is not allowed beside a DEFAULT partition), which is why
    it is an operator's command and not done in the transaction that deletes the microDAO."""
    if name not in orphan_partitions():
        raise ValueError(f"{name} is not a partition of a deleted microDAO")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_DDL_LOCK])
        cursor.execute(f"DROP TABLE {name}")


def default_partition_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")  # noqa: S608
        return int(cursor.fetchone()[0])
