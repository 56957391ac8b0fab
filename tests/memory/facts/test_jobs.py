"""The other memory jobs on the queue: pending embeddings retried with backoff, reindex and
knowledge ingestion enqueued by their commands and run by a worker."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from memory.models import Document, Memory, ReindexJob
from tests.fakes.openai_upstream import UpstreamState, fake_upstream
from tests.memory.factories import make_remote_embed_route
from tests.memory.facts.support import run_worker, store

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_store_whose_embedding_failed_is_finished_by_a_job(tenants, settings):
    embedder = UpstreamState(embed_dimensions=384)
    with fake_upstream(embedder) as (base_url, _):
        make_remote_embed_route("facts-jobs-embed", base_url, 384)
        settings.MEMORY_DEFAULT_EMBEDDING_MODEL = "facts-jobs-embed"
        from memory.config import config_cache

        config_cache.invalidate()
        embedder.down = True
        memory_id = store("agent:sofia", "microdao:alpha", "the budget is 10k UAH")
        assert Memory.objects.get(pk=memory_id).embedding_pending
        job = DBTaskResult.objects.get(task_path="memory.tasks.memories_embed_pending")
        assert job.run_after > job.enqueued_at  # backoff, not a hot loop
        embedder.down = False
        DBTaskResult.objects.update(run_after=job.enqueued_at)
        run_worker()
    assert not Memory.objects.get(pk=memory_id).embedding_pending
    assert DBTaskResult.objects.get(pk=job.pk).status == "SUCCESSFUL"


def test_reindex_and_ingest_run_in_the_background(tenants, tmp_path):
    (tmp_path / "a.md").write_text("# Treasury\nThe treasury multisig needs 3 of 5.\n")
    call_command("ingest_kb", str(tmp_path), "--microdao", "microdao:alpha", "--background")
    call_command("reindex_memories", "--microdao", "microdao:alpha", "--background")
    assert DBTaskResult.objects.filter(status="READY").count() == 2
    assert not Document.objects.exists()  # nothing ran in the command itself
    run_worker()
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}
    assert Document.objects.filter(microdao_id="microdao:alpha").count() == 1
    assert ReindexJob.objects.get().status == "done"


def test_extract_facts_missing_queues_what_was_never_queued(extract_route, upstream):
    import datetime as dt

    from memory.facts.models import Fact

    upstream.script("needs 2 of 3", ("treasury multisig", "The treasury multisig needs 2 of 3."))
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    memory_id = store("agent:sofia", "microdao:alpha", "the treasury multisig needs 2 of 3", at=old)
    DBTaskResult.objects.all().delete()  # as if the enqueue had failed
    call_command("extract_facts", "--missing")
    assert DBTaskResult.objects.get().args_kwargs["kwargs"]["memory_ids"] == [memory_id]
    call_command("extract_facts", "--missing")  # already queued: not twice
    assert DBTaskResult.objects.count() == 1
    run_worker()
    assert Fact.objects.filter(sources__memory_id=memory_id).count() == 1
