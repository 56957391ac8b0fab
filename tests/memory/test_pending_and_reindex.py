"""The embedding provider down (pending, then --pending), model switches, resumable reindex."""

from __future__ import annotations

import io

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command

from llm.breaker import breaker
from llm.models import Provider, UsageLog
from llm.registry import registry_invalidate
from llm.usage import usage_flush
from memory import reindex
from memory.models import Memory, MemoryEmbedding, MemorySettings, ReindexJob
from memory.selectors import memory_query
from memory.services import memory_settings_set, memory_store
from tests.fakes.openai_upstream import UpstreamState, fake_upstream
from tests.fakes.server import free_port
from tests.memory.factories import make_remote_embed_route

pytestmark = pytest.mark.django_db(transaction=True)


def _store(text, agent="agent:sofia", microdao="microdao:alpha"):
    return async_to_sync(memory_store)(
        agent_id=agent,
        microdao_id=microdao,
        channel_id="c",
        user_message=text,
        agent_reply=None,
    )


def _ask(text, **kwargs):
    return async_to_sync(memory_query)(
        agent_id="agent:sofia", microdao_id="microdao:alpha", query=text, limit=10, **kwargs
    )


def _command(*args) -> str:
    out = io.StringIO()
    call_command("reindex_memories", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def upstream():
    with fake_upstream(UpstreamState(embed_dimensions=16)) as (_, state):
        yield state


def test_store_with_the_provider_failing_keeps_the_memory_pending_then_reindex_completes_it(
    tenants, upstream
):
    make_remote_embed_route("remote-embed", upstream.base_url, 16)
    memory_settings_set(microdao_id="microdao:alpha", embedding_model="remote-embed")
    upstream.down = True
    result = _store("The harvest festival moves to October")
    assert result.pending_embedding is True
    memory = Memory.objects.get(pk=int(result.ids[0]))
    assert memory.embedding_pending and not MemoryEmbedding.objects.filter(memory=memory).exists()
    usage_flush()
    assert UsageLog.objects.filter(model="remote-embed", status="error").exists()
    # Queries degrade to full text and still find it.
    answer = _ask("harvest festival")
    assert answer.degraded and "full-text" in answer.degraded
    assert [item.id for item in answer.items] == result.ids

    upstream.down = False
    breaker.reset()
    output = _command("--pending")
    assert "1 embedded, 0 failed" in output
    memory.refresh_from_db()
    assert not memory.embedding_pending
    assert MemoryEmbedding.objects.get(memory=memory).model == "remote-embed"
    answer = _ask("harvest festival")
    assert answer.degraded is None and answer.items[0].id == result.ids[0]


def test_pending_with_a_closed_port_then_the_provider_comes_back(tenants, upstream):
    make_remote_embed_route("remote-embed", f"http://127.0.0.1:{free_port()}/v1", 16)
    memory_settings_set(microdao_id="microdao:alpha", embedding_model="remote-embed")
    stored = [_store(f"note {n} about the library opening hours") for n in range(3)]
    assert all(result.pending_embedding for result in stored)
    assert Memory.objects.filter(embedding_pending=True).count() == 3
    # The provider moves to a live address (an operator fixes the base URL).
    Provider.objects.filter(name="remote-embed-upstream").update(base_url=upstream.base_url)
    registry_invalidate()
    breaker.reset()
    assert "3 embedded, 0 failed" in _command("--pending")
    assert Memory.objects.filter(embedding_pending=True).count() == 0
    assert MemoryEmbedding.objects.filter(model="remote-embed").count() == 3


def test_switching_models_serves_the_old_vectors_until_the_new_ones_are_complete(tenants, upstream):
    for n in range(5):
        _store(f"memory {n}: the bicycle repair workshop is on Saturday")
    _store("memory FAILME: this one upsets the new provider")
    assert MemoryEmbedding.objects.filter(model="offline-embed").count() == 6
    make_remote_embed_route("remote-embed", upstream.base_url, 16)
    upstream.embed_fail_when_contains = "FAILME"

    output = _command(
        "--microdao", "microdao:alpha", "--model", "remote-embed", "--batch-size", "2"
    )
    # The batch of two holding the bad text failed as a whole.
    assert "4 embedded, 2 failed" in output
    assert "2 memories still lack a remote-embed vector" in output
    settings_row = MemorySettings.objects.get(microdao_id="microdao:alpha")
    assert settings_row.embedding_model == "remote-embed"
    assert settings_row.serving_model == "offline-embed"
    calls = upstream.total_calls
    answer = _ask("bicycle repair workshop")
    assert answer.degraded is None and len(answer.items) == 6
    assert upstream.total_calls == calls  # the query was embedded with the old model only
    # Stored during the switch: embedded with both models.
    during = _store("memory 6: the bicycle workshop needs volunteers")
    assert set(
        MemoryEmbedding.objects.filter(memory_id=int(during.ids[0])).values_list("model", flat=True)
    ) == {"offline-embed", "remote-embed"}

    upstream.embed_fail_when_contains = None
    breaker.reset()
    output = _command("--microdao", "microdao:alpha", "--model", "remote-embed")
    assert "2 embedded, 0 failed" in output  # only the missing ones
    assert "microdao:alpha: queries now use remote-embed." in output
    assert MemorySettings.objects.get(microdao_id="microdao:alpha").serving_model == "remote-embed"
    calls = upstream.total_calls
    answer = _ask("bicycle repair workshop")
    assert answer.degraded is None and len(answer.items) == 7
    assert upstream.total_calls == calls + 1  # now the query goes to the new model
    # The old vectors stay (other processes may still serve them) until --prune.
    assert MemoryEmbedding.objects.filter(model="offline-embed").count() == 7
    assert "Pruned 7 vectors" in _command("--pending", "--prune")
    assert set(MemoryEmbedding.objects.values_list("model", flat=True)) == {"remote-embed"}


def test_a_crashed_reindex_resumes_where_it_stopped(tenants, monkeypatch):
    for n in range(6):
        _store(f"crash test memory {n}")
    real = reindex.memories_embed
    calls = {"n": 0}

    async def crash_on_second_batch(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return await real(**kwargs)

    monkeypatch.setattr(reindex, "memories_embed", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        _command("--agent", "agent:sofia", "--batch-size", "2")
    job = ReindexJob.objects.get()
    assert job.status == "running" and job.embedded == 2
    first_two = list(Memory.objects.order_by("pk").values_list("pk", flat=True))[:2]
    assert job.cursor == first_two[-1]
    monkeypatch.setattr(reindex, "memories_embed", real)
    output = _command("--agent", "agent:sofia", "--batch-size", "2")
    assert output.startswith(f"Resumed reindex job #{job.pk}: 4 memories to do, 4 embedded")
    job.refresh_from_db()
    assert job.status == "done" and job.embedded == 6


def test_reindex_rejects_bad_options(tenants):
    with pytest.raises(CommandError, match="drop --agent"):
        _command("--agent", "agent:sofia", "--model", "offline-embed")
    with pytest.raises(CommandError, match="not an embedding route"):
        _command("--model", "gpt-unknown")
    with pytest.raises(CommandError, match="Unknown microDAO"):
        _command("--microdao", "microdao:nowhere")


def test_reindex_fails_loudly_when_the_route_dimensions_do_not_match_the_model(tenants, upstream):
    # The route says 8 dimensions, the model returns 16: every vector fails. Rerunning cannot
    # help, so the command exits non-zero and says why (it used to exit 0 with "run again").
    make_remote_embed_route("remote-embed", upstream.base_url, 8)
    memory_settings_set(microdao_id="microdao:alpha", embedding_model="remote-embed")
    result = _store("The seed exchange is on Saturday")
    assert result.pending_embedding is True
    with pytest.raises(CommandError, match=r"Every embedding failed.*8-dimensional"):
        _command("--pending")
    assert Memory.objects.get(pk=int(result.ids[0])).embedding_pending
