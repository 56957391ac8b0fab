"""A job that fails for any reason (not only the gateway): a visible failed state in admin and a
retry with backoff, at most MEMORY_FACTS_MAX_ATTEMPTS attempts; never stuck "running"."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django_tasks_db.models import DBTaskResult

from memory.facts import pipeline
from memory.facts.models import Fact, FactExtraction
from tests.memory.facts.support import run_worker, store

pytestmark = pytest.mark.django_db(transaction=True)
SOFIA, ALPHA = "agent:sofia", "microdao:alpha"


@pytest.fixture
def treasury_unstored(extract_route, upstream):
    upstream.script("needs 2 of 3", ("treasury multisig", "The treasury multisig needs 2 of 3."))


@pytest.fixture
def treasury(treasury_unstored):
    return store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3")


def _make_due(retry: DBTaskResult) -> None:
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=retry.enqueued_at)  # time passes


def _assert_retrying(memory_id: int, error: str, admin_client) -> DBTaskResult:
    failed = DBTaskResult.objects.get(status="FAILED")
    assert "JobRetry" in failed.exception_class_path and error in failed.traceback
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.args_kwargs["kwargs"] == {"memory_ids": [memory_id], "attempt": 2}
    assert retry.run_after > failed.finished_at + dt.timedelta(seconds=0.3)  # backoff
    job = FactExtraction.objects.get(memory_id=memory_id)
    assert (job.status, job.attempts) == ("retrying", 1)  # not "running"
    assert error in job.last_error and job.next_attempt_at == retry.run_after
    page = admin_client.get("/admin/facts/factextraction/").content.decode()
    assert "retrying" in page
    return retry


def _assert_done_after_retry(memory_id: int, retry: DBTaskResult) -> None:
    _make_due(retry)
    run_worker()
    job = FactExtraction.objects.get(memory_id=memory_id)
    assert (job.status, job.attempts) == ("done", 2)
    assert Fact.objects.filter(sources__memory_id=memory_id).count() == 1


def test_a_bug_in_a_job_is_retried_with_backoff(treasury, monkeypatch, admin_client):
    real = pipeline.fact_integrate

    async def buggy(**kwargs):
        raise RuntimeError("a bug in fact integration")

    monkeypatch.setattr(pipeline, "fact_integrate", buggy)
    run_worker()
    retry = _assert_retrying(treasury, "RuntimeError", admin_client)
    monkeypatch.setattr(pipeline, "fact_integrate", real)  # fixed (deployed)
    _assert_done_after_retry(treasury, retry)


def test_a_database_error_in_a_job_is_retried(treasury, monkeypatch, admin_client):
    real = pipeline._candidates

    def broken(*args):
        with connection.cursor() as cursor:  # a real error from PostgreSQL
            cursor.execute("SELECT missing_column FROM memory_facts_no_such_table")
        return []

    monkeypatch.setattr(pipeline, "_candidates", broken)
    run_worker()
    retry = _assert_retrying(treasury, "ProgrammingError", admin_client)
    monkeypatch.setattr(pipeline, "_candidates", real)
    _assert_done_after_retry(treasury, retry)


def test_a_hung_job_times_out_and_is_retried(treasury, monkeypatch, admin_client, settings):
    settings.MEMORY_FACTS_MEMORY_TIMEOUT_SECONDS = 0.5
    real = pipeline.fact_integrate

    async def hung(**kwargs):
        await asyncio.sleep(30)

    monkeypatch.setattr(pipeline, "fact_integrate", hung)
    run_worker()
    retry = _assert_retrying(treasury, "TimeoutError", admin_client)
    monkeypatch.setattr(pipeline, "fact_integrate", real)
    _assert_done_after_retry(treasury, retry)


def test_retries_are_bounded_and_end_failed(treasury, monkeypatch, admin_client, settings):
    settings.MEMORY_FACTS_MAX_ATTEMPTS = 2

    async def buggy(**kwargs):
        raise RuntimeError("still broken")

    monkeypatch.setattr(pipeline, "fact_integrate", buggy)
    run_worker()
    _make_due(DBTaskResult.objects.get(status="READY"))
    run_worker()
    assert not DBTaskResult.objects.filter(status="READY").exists()  # no third attempt
    assert DBTaskResult.objects.filter(status="FAILED").count() == 2
    job = FactExtraction.objects.get(memory_id=treasury)
    assert (job.status, job.attempts) == ("failed", 2) and job.next_attempt_at is None
    assert (
        "failed, no retries left"
        in admin_client.get("/admin/facts/factextraction/").content.decode()
    )


def test_a_background_reindex_that_fails_is_retried(tenants, monkeypatch):
    import memory.reindex

    real = memory.reindex.memories_reindex
    calls = []

    async def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise ConnectionResetError("database connection lost")
        return await real(**kwargs)

    monkeypatch.setattr(memory.reindex, "memories_reindex", flaky)
    call_command("reindex_memories", "--microdao", ALPHA, "--background")
    run_worker()
    failed = DBTaskResult.objects.get(status="FAILED")
    assert "ConnectionResetError" in failed.traceback
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.args_kwargs["kwargs"]["attempt"] == 2 and retry.run_after > failed.finished_at
    _make_due(retry)
    run_worker()
    assert DBTaskResult.objects.get(pk=retry.pk).status == "SUCCESSFUL"
    assert len(calls) == 2


def test_extraction_is_not_counted_against_the_agents_chat_rate_limit(treasury_unstored, settings):
    from daarion.agents.models import Agent
    from llm.limits import agent_rate_limit_hit

    agent = Agent.objects.get(pk=SOFIA)
    agent.rate_limit = "1/h"
    agent.save()  # (signals drop cached registries)
    agent_rate_limit_hit(agent_id=SOFIA, rate="1/h")  # the agent's conversations used it up
    assert agent_rate_limit_hit(agent_id=SOFIA, rate="1/h") is not None
    memory_id = store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3")
    run_worker()
    job = FactExtraction.objects.get(memory_id=memory_id)
    assert (job.status, job.attempts) == ("done", 1)  # not "retrying" on a rate limit
    assert Fact.objects.filter(sources__memory_id=memory_id).count() == 1
