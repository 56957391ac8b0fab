"""Vectors live in their microDAO's partition (memory/partitions.py)."""

from __future__ import annotations

import io

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.db import connection

from daarion.agents.models import MicroDAO
from memory.models import MemoryEmbedding
from memory.partitions import (
    DEFAULT_PARTITION,
    PARENT,
    default_partition_rows,
    partition_ensure,
    partition_name,
    partition_tables,
    partitions_sync,
)
from memory.selectors import memory_query
from memory.services import memory_store
from memory.spaces import embedding_index_build, embedding_space_ensure
from tests.factories import AgentFactory, MicroDAOFactory

store = async_to_sync(memory_store)
query = async_to_sync(memory_query)


def _store(agent, user: str, reply: str = "Noted."):
    return store(
        agent_id=agent.id,
        microdao_id=agent.microdao_id,
        channel_id="chan-1",
        user_message=user,
        agent_reply=reply,
    )


def _tables_holding(microdao_id: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT tableoid::regclass::text FROM {PARENT} WHERE microdao_id = %s",
            [microdao_id],
        )
        return {row[0] for row in cursor.fetchall()}


def _index_leaves(index_name: str) -> set[str]:
    """The tables that have a partition of `index_name` (the partitioned HNSW index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT x.indrelid::regclass::text FROM pg_partition_tree(%s::regclass) t "
            "JOIN pg_index x ON x.indexrelid = t.relid WHERE t.isleaf",
            [index_name],
        )
        return {row[0] for row in cursor.fetchall()}


def test_a_new_microdao_gets_its_own_partition_and_its_vectors_land_there(tenants):
    for microdao in ("microdao:alpha", "microdao:beta"):
        assert partition_name(microdao) in partition_tables()
    _store(tenants["sofia"], "Where is the treasury report?")
    _store(tenants["bohdan"], "When is the hackathon?")
    assert _tables_holding("microdao:alpha") == {partition_name("microdao:alpha")}
    assert _tables_holding("microdao:beta") == {partition_name("microdao:beta")}
    assert default_partition_rows() == 0


def test_vectors_of_a_microdao_without_a_partition_wait_in_default_and_move(embed_route):
    (dao,) = MicroDAO.objects.bulk_create([MicroDAO(id="microdao:bulk", name="Bulk")])  # no signal
    agent = AgentFactory(id="agent:bulk", microdao=dao)
    _store(agent, "Who signs the grant report?", "Marta signs it.")
    _store(agent, "When is the release plan due?", "On Friday.")
    assert _tables_holding(dao.id) == {DEFAULT_PARTITION}

    assert partitions_sync() == [dao.id]  # the others already have theirs
    assert _tables_holding(dao.id) == {partition_name(dao.id)}
    assert default_partition_rows() == 0
    assert not partition_ensure(dao.id)  # idempotent
    result = query(agent_id=agent.id, microdao_id=dao.id, query="grant report signature")
    assert result.items[0].text.startswith("User: Who signs the grant report?")
    _store(agent, "Who approves the hackathon budget?", "Oleh does.")  # straight to its own
    assert _tables_holding(dao.id) == {partition_name(dao.id)}


@pytest.mark.django_db(transaction=True)
def test_a_build_outside_a_transaction_indexes_every_partition_and_new_ones_inherit(embed_route):
    alpha = AgentFactory(id="agent:p-alpha", microdao=MicroDAOFactory(id="microdao:p-alpha"))
    _store(alpha, "Budget of project Aurora?", "Ten thousand.")
    space = embedding_space_ensure(model="test-part-8", dimensions=8, build_index=False)
    MemoryEmbedding.objects.create(
        memory_id=MemoryEmbedding.objects.get(microdao_id=alpha.microdao_id).memory_id,
        model="test-part-8",
        microdao_id=alpha.microdao_id,
        agent_id=alpha.id,
        tier="mid",
        kind="conversation",
        embedding=[1.0, 0, 0, 0, 0, 0, 0, 0],
    )
    embedding_index_build(space=space)  # autocommit: the parent's ONLY, then each CONCURRENTLY

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass", [space.index_name]
        )
        assert cursor.fetchone()[0] is True  # every partition has its index attached
    assert _index_leaves(space.index_name) == set(partition_tables())
    embedding_index_build(space=space)  # nothing left to build: a no-op

    MicroDAOFactory(id="microdao:p-later")
    assert partition_name("microdao:p-later") in _index_leaves(space.index_name)


@pytest.mark.django_db(transaction=True)
def test_the_migration_carries_every_row_both_ways(tenants):
    _store(tenants["sofia"], "Who reviews the treasury contracts?", "Marta does.")
    _store(tenants["oleh"], "When is the community call?", "Thursday.")
    _store(tenants["bohdan"], "Where is the hackathon?", "In Lviv.")
    before = sorted(MemoryEmbedding.objects.values_list("id", "memory_id", "microdao_id"))
    try:
        call_command("migrate", "memory", "0004", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = %s", [PARENT])
            assert cursor.fetchone()[0] == "r"  # a plain table again
            cursor.execute(f"SELECT id, memory_id, microdao_id FROM {PARENT} ORDER BY id")
            assert sorted(cursor.fetchall()) == before
    finally:
        call_command("migrate", "memory", verbosity=0)
    assert sorted(MemoryEmbedding.objects.values_list("id", "memory_id", "microdao_id")) == before
    assert _tables_holding("microdao:alpha") == {partition_name("microdao:alpha")}
    # New rows take ids after the carried ones, and search works on the rebuilt table.
    created = _store(tenants["bohdan"], "Who pays for the server migration?", "The treasury.")
    new_id = MemoryEmbedding.objects.get(memory_id=int(created.ids[0])).id
    assert new_id > max(row[0] for row in before)
    result = query(agent_id="agent:sofia", microdao_id="microdao:alpha", query="treasury contracts")
    assert result.items[0].text.startswith("User: Who reviews the treasury contracts?")


@pytest.mark.django_db(transaction=True)
def test_the_command_syncs_waiting_microdaos_and_drops_deleted_ones(embed_route):
    (waiting,) = MicroDAO.objects.bulk_create([MicroDAO(id="microdao:waiting", name="Waiting")])
    _store(AgentFactory(id="agent:waiting", microdao=waiting), "Who runs the token audit?")
    gone = MicroDAOFactory(id="microdao:gone")
    gone_agent = AgentFactory(id="agent:gone", microdao=gone)
    _store(gone_agent, "Where is the website launch?")
    gone_agent.delete()  # an agent protects its microDAO
    gone.delete()  # its vectors go with it; its partition stays until the command drops it
    out = io.StringIO()
    call_command("memory_partitions", stdout=out)
    assert "1 vectors wait in memory_memoryembedding_default" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {PARENT}")
    out = io.StringIO()
    call_command("memory_partitions", stdout=out)
    assert f"{partition_name('microdao:gone')}  FOR VALUES IN ('microdao:gone')  ~0 rows" in (
        out.getvalue()
    )
    assert partition_name("microdao:gone") in out.getvalue()

    out = io.StringIO()
    call_command("memory_partitions", "--sync", "--drop-orphans", stdout=out)
    assert "microdao:waiting: partition created." in out.getvalue()
    assert f"{partition_name('microdao:gone')}: dropped." in out.getvalue()
    assert "wait in" not in out.getvalue()
    assert partition_name("microdao:gone") not in partition_tables()
    assert _tables_holding("microdao:waiting") == {partition_name("microdao:waiting")}
