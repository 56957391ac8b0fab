"""An embedding-model switch re-embeds facts too (reindex_memories, in the foreground and as a
background job); the switch waits until the facts have the new vectors; --prune covers them."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from llm.breaker import breaker
from memory.facts.models import Fact, FactEmbedding
from memory.models import MemorySettings
from tests.fakes.openai_upstream import UpstreamState, fake_upstream
from tests.memory.factories import make_remote_embed_route
from tests.memory.facts.support import run_worker, store

pytestmark = pytest.mark.django_db(transaction=True)
SOFIA, ALPHA = "agent:sofia", "microdao:alpha"


@pytest.fixture
def embedder():
    with fake_upstream(UpstreamState(embed_dimensions=16)) as (_, state):
        yield state


def _reindex(*args: str) -> str:
    out = io.StringIO()
    call_command("reindex_memories", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _facts(extract_route, upstream) -> list[int]:
    upstream.script("needs 2 of 3", ("treasury multisig", "The treasury multisig needs 2 of 3."))
    upstream.script("budget", ("budget", "The budget is 10k UAH."))
    store(SOFIA, ALPHA, "the treasury multisig needs 2 of 3")
    store(SOFIA, ALPHA, "the budget is 10k UAH")
    run_worker()
    ids = list(Fact.objects.values_list("pk", flat=True))
    assert len(ids) == 2
    return ids


def _models(fact_id: int) -> set[str]:
    return set(FactEmbedding.objects.filter(fact_id=fact_id).values_list("model", flat=True))


def test_a_model_switch_re_embeds_facts_and_waits_for_them(extract_route, upstream, embedder):
    treasury, budget = _facts(extract_route, upstream)
    assert _models(treasury) == _models(budget) == {"offline-embed"}
    make_remote_embed_route("remote-embed", embedder.base_url, 16)
    embedder.embed_fail_when_contains = "budget: The budget"  # the fact's text, not the memory's

    output = _reindex("--microdao", ALPHA, "--model", "remote-embed")
    assert "2 embedded, 0 failed" in output  # both memories
    assert "Fact vectors: 0 embedded, 2 failed." in output  # one batch: failed as a whole
    assert "2 facts still lack a vector of the new model" in output
    assert _models(treasury) == {"offline-embed"}
    # A switch now would leave the budget fact without a vector under the serving model.
    assert MemorySettings.objects.get(microdao_id=ALPHA).serving_model == "offline-embed"

    embedder.embed_fail_when_contains = None
    breaker.reset()
    output = _reindex("--microdao", ALPHA, "--model", "remote-embed")
    assert "0 embedded, 0 failed (still pending" in output  # the memories were done
    assert "Fact vectors: 2 embedded, 0 failed." in output
    assert "queries now use remote-embed" in output
    assert _models(budget) == {"offline-embed", "remote-embed"}
    assert "Pruned 4 vectors" in _reindex("--pending", "--prune")  # 2 memories + 2 facts
    assert _models(treasury) == _models(budget) == {"remote-embed"}


def test_a_background_reindex_re_embeds_facts(extract_route, upstream, embedder):
    from django_tasks_db.models import DBTaskResult

    treasury, budget = _facts(extract_route, upstream)
    make_remote_embed_route("remote-embed", embedder.base_url, 16)
    call_command("reindex_memories", "--microdao", ALPHA, "--model", "remote-embed", "--background")
    run_worker()
    job = DBTaskResult.objects.get(task_path="memory.tasks.memories_reindex_job")
    assert job.status == "SUCCESSFUL" and job.return_value["facts_embedded"] == 2
    assert _models(treasury) == _models(budget) == {"offline-embed", "remote-embed"}
    assert MemorySettings.objects.get(microdao_id=ALPHA).serving_model == "remote-embed"
