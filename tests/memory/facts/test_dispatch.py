"""Fact extraction is queued off the write path, exactly once, and a crash in between loses
nothing (memory/facts/dispatch.py)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.db import connection
from django_tasks_db.models import DBTaskResult

from memory.facts.dispatch import (
    facts_claim_and_enqueue,
    facts_dispatch_flush,
    facts_dispatcher,
    facts_pending_sweep,
)
from memory.facts.models import Fact
from memory.models import Memory
from tests.memory.facts.support import run_worker

pytestmark = pytest.mark.django_db(transaction=True)
SOFIA, ALPHA = "agent:sofia", "microdao:alpha"


def _store(text: str) -> int:
    from memory.services import memory_store

    result = async_to_sync(memory_store)(
        agent_id=SOFIA, microdao_id=ALPHA, channel_id="facts", user_message=text, agent_reply=None
    )
    return int(result.ids[0])


def _jobs() -> list[list[int]]:
    return [
        row.args_kwargs["kwargs"]["memory_ids"]
        for row in DBTaskResult.objects.filter(task_path="memory.tasks.facts_extract")
    ]


def test_a_store_returns_before_its_extraction_job_is_queued(extract_route, upstream):
    upstream.script("needs 2 of 3", ("treasury multisig", "The treasury multisig needs 2 of 3."))
    release = threading.Event()
    facts_dispatcher.submit_task(lambda: release.wait(30))  # the dispatch thread is busy
    try:
        memory_id = _store("the treasury multisig needs 2 of 3")
        # The store has returned: its memory is marked (same INSERT), no job row was written.
        assert Memory.objects.get(pk=memory_id).facts_state == "pending"
        assert _jobs() == []
    finally:
        release.set()
    assert facts_dispatch_flush()
    assert _jobs() == [[memory_id]]
    assert Memory.objects.get(pk=memory_id).facts_state == "queued"
    run_worker()
    assert Memory.objects.get(pk=memory_id).facts_state == "done"
    assert Fact.objects.filter(sources__memory_id=memory_id).count() == 1


def test_extraction_off_marks_nothing_and_queues_nothing(tenants):
    memory_id = _store("the treasury multisig needs 2 of 3")  # no extraction route: off
    facts_dispatch_flush()
    assert Memory.objects.get(pk=memory_id).facts_state == ""
    assert _jobs() == []


def _crashed_store(text: str, *, minutes_ago: int = 10) -> int:
    """A memory as a crash leaves it: the store's INSERT committed, its dispatch never ran."""
    memory = Memory.objects.create(
        microdao_id=ALPHA,
        agent_id=SOFIA,
        text=f"User: {text}",
        facts_state="pending",
        embedding_pending=False,
    )
    Memory.objects.filter(pk=memory.pk).update(
        created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)
    )
    return memory.pk


def test_a_crash_between_store_and_dispatch_is_recovered_exactly_once(extract_route, upstream):
    upstream.script("needs 2 of 3", ("treasury multisig", "The treasury multisig needs 2 of 3."))
    lost = _crashed_store("the treasury multisig needs 2 of 3")
    fresh = _crashed_store("the treasury multisig needs 2 of 3 too", minutes_ago=0)

    call_command("extract_facts", "--missing")
    assert _jobs() == [[lost]]  # a fresh one may still be dispatched by its store: left alone
    call_command("extract_facts", "--missing")
    assert facts_pending_sweep(older_than=0) == 1  # the fresh one, now
    facts_dispatcher.submit([lost, fresh])  # a late dispatch of the same memories
    facts_dispatch_flush()
    assert sorted(_jobs()) == sorted([[fresh], [lost]])  # each memory queued exactly once
    run_worker()
    assert Memory.objects.get(pk=lost).facts_state == "done"
    assert Fact.objects.filter(sources__memory_id=lost).count() == 1


def test_concurrent_claims_queue_each_memory_once(extract_route):
    ids = [_crashed_store(f"fact number {n}") for n in range(20)]

    def claim(_: int) -> list[int]:
        try:
            return facts_claim_and_enqueue(ids)
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        claimed = [memory_id for got in pool.map(claim, range(8)) for memory_id in got]
    assert sorted(claimed) == sorted(ids)
    queued = [memory_id for job in _jobs() for memory_id in job]
    assert sorted(queued) == sorted(ids)
    assert set(Memory.objects.filter(pk__in=ids).values_list("facts_state", flat=True)) == {
        "queued"
    }


def test_a_broken_extraction_config_never_fails_a_store(tenants, monkeypatch):
    import memory.services

    def broken(**kwargs):
        raise RuntimeError("registry unavailable")

    monkeypatch.setattr(memory.services, "facts_config_get", broken)
    memory_id = _store("the treasury multisig needs 2 of 3")
    assert Memory.objects.get(pk=memory_id).facts_state == ""  # `--missing` finds it later
