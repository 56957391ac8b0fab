"""The offline provider and the public embedding entry point."""

from __future__ import annotations

import math

import pytest
from django.core.management import call_command

from llm import errors, gateway
from llm.models import ModelRoute, UsageLog, UsageStatus
from llm.providers.offline import build_reply, hash_embedding
from llm.types import EmbeddingModelInfo
from tests.factories import AgentFactory
from tests.llm.factories import OfflineProviderFactory, make_route


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_hash_embedding_is_unit_length_deterministic_and_sized():
    vector = hash_embedding("Проєкт X: нові задачі", 384)
    assert len(vector) == 384
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-9)
    assert vector == hash_embedding("Проєкт X: нові задачі", 384)
    assert len(hash_embedding("hello", 64)) == 64
    assert math.isclose(sum(v * v for v in hash_embedding("", 16)), 1.0)


@pytest.mark.parametrize(
    ("query", "related", "unrelated"),
    [
        ("What is new in project X?", "Project X got three new tasks", "The weather in Paris"),
        ("Що нового в проєкті X?", "У проєкті X три нові задачі", "Погода в Парижі"),  # noqa: RUF001
    ],
)
def test_hash_embedding_puts_texts_sharing_words_closer(query, related, unrelated):
    q, r, u = (hash_embedding(t) for t in (query, related, unrelated))
    assert _cos(q, r) > _cos(q, u) + 0.1


@pytest.mark.django_db
async def test_offline_reply_is_deterministic_and_mentions_tools_and_tool_results():
    messages = [{"role": "user", "content": "Hello!"}]
    tools = [{"type": "function", "function": {"name": "projects_list", "parameters": {}}}]
    first = await build_reply(model="m", messages=messages, params={"tools": tools})
    assert first == await build_reply(model="m", messages=messages, params={"tools": tools})
    assert first["content"].startswith("[offline:m]")
    assert "Hello!" in first["content"] and "projects_list" in first["content"]
    assert "no tool matched" in first["content"]
    forced = await build_reply(
        model="m", messages=messages, params={"tools": tools, "tool_choice": "required"}
    )
    assert forced["tool_calls"][0]["function"] == {"name": "projects_list", "arguments": "{}"}
    after_tool = await build_reply(
        model="m",
        messages=[*messages, {"role": "tool", "tool_call_id": "1", "content": '{"tasks": 3}'}],
        params={},
    )
    assert after_tool["content"] == '[offline:m] tool: {"tasks":3}'


@pytest.mark.django_db(transaction=True)
async def test_embed_returns_vectors_and_logs_one_row(flush_usage):
    offline = await OfflineProviderFactory._meta.model.objects.acreate(
        name="offline", kind="offline"
    )
    route = await ModelRoute.objects.acreate(name="offline-embed", kind="embedding")
    await route.targets.acreate(provider=offline, physical_model="hash", dimensions=384)
    result = await gateway.embed(model="offline-embed", texts=["один", "two", "три"] * 100)
    assert result.dimensions == 384
    assert len(result.vectors) == 300
    assert result.provider == "offline"
    flush_usage()
    rows = [row async for row in UsageLog.objects.all()]
    assert len(rows) == 1
    assert rows[0].kind == "embedding" and rows[0].status == UsageStatus.OK
    assert rows[0].prompt_tokens == result.usage["prompt_tokens"] > 0


@pytest.mark.django_db(transaction=True)
async def test_embed_unknown_model_raises_and_logs(flush_usage):
    with pytest.raises(errors.UnknownModel) as caught:
        await gateway.embed(model="nope", texts=["x"])
    assert caught.value.status_code == 404
    with pytest.raises(errors.InvalidLlmRequest):
        await gateway.embed(model="nope", texts=[])
    flush_usage()
    assert await UsageLog.objects.filter(status=UsageStatus.ERROR).acount() == 2


@pytest.mark.django_db
def test_embedding_models_lists_embedding_routes_only():
    offline = OfflineProviderFactory()
    make_route("chat-a", offline)
    make_route("embed-a", offline, kind="embedding", dimensions=384)
    assert gateway.embedding_models() == [EmbeddingModelInfo(name="embed-a", dimensions=384)]


# Transactional: the seeds embed through the gateway, whose usage rows a background thread commits
# (outside a test transaction); the flush below lets the teardown remove them.
@pytest.mark.django_db(transaction=True)
def test_demo_seed_is_idempotent_and_ends_with_offline(monkeypatch, flush_usage):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-demo-openai-key-0123456789")
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.delenv("OLLAMA_BASE_URL", raising=False)
    call_command("bootstrap_demo")
    call_command("bootstrap_demo", "--reset")  # re-applying the demo is idempotent
    route = ModelRoute.objects.get(name="sofia-default")
    providers = list(route.targets.order_by("priority").values_list("provider__name", flat=True))
    assert providers == ["openai", "offline"]
    assert ModelRoute.objects.get(name="offline-embed").targets.get().dimensions == 384
    assert ModelRoute.objects.filter(name="gpt-4.1-mini").exists()
    from llm.models import ProviderKey

    assert ProviderKey.objects.count() == 1
    flush_usage()


@pytest.mark.django_db(transaction=True)
async def test_chat_through_offline_route(flush_usage):
    from asgiref.sync import sync_to_async

    agent = await sync_to_async(AgentFactory)()
    await sync_to_async(lambda: make_route("sofia-default", OfflineProviderFactory()))()
    from llm.types import ChatRequest

    result = await gateway.chat(
        ChatRequest(
            model="sofia-default",
            messages=[{"role": "user", "content": "Привіт"}],
            agent_id=agent.id,
        )
    )
    assert "Привіт" in result.message["content"]
    assert result.provider == "offline" and not result.fallback_used
    flush_usage()
    row = await UsageLog.objects.aget()
    assert row.agent_id == agent.id and row.microdao_id == agent.microdao_id
