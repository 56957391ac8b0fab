"""Store and query through the public interface (memory.services / memory.selectors)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from daarion.common.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, PermissionDenied
from memory.models import Memory, MemoryEmbedding, MemorySettings
from memory.selectors import memory_query
from memory.services import memory_store

store = async_to_sync(memory_store)
query = async_to_sync(memory_query)
pytestmark = pytest.mark.django_db(transaction=True)


def _store(agent, user, reply, channel="chan-1", **kwargs):
    return store(
        agent_id=agent.id,
        microdao_id=agent.microdao_id,
        channel_id=channel,
        user_message=user,
        agent_reply=reply,
        **kwargs,
    )


def _texts(result):
    return [item.text for item in result.items]


def test_store_commits_text_and_embedding_with_the_default_model(tenants):
    result = _store(tenants["sofia"], "What is the budget of project Alpha?", "It is 5000 USD.")
    assert not result.pending_embedding and result.created
    memory = Memory.objects.get(pk=int(result.ids[0]))
    assert memory.text == "User: What is the budget of project Alpha?\nAgent: It is 5000 USD."
    assert memory.content == {
        "user_message": "What is the budget of project Alpha?",
        "agent_reply": "It is 5000 USD.",
    }
    assert memory.tier == "mid" and memory.embedding_pending is False
    vector = MemoryEmbedding.objects.get(memory=memory)
    assert vector.model == "offline-embed" and len(vector.embedding) == 384
    # The microDAO's serving model is pinned on its first embedding.
    assert MemorySettings.objects.get(microdao_id="microdao:alpha").serving_model == "offline-embed"


@pytest.mark.parametrize("exact_up_to", [2000, 0], ids=["exact-scan", "hnsw"])
def test_english_retrieval_by_meaning_bearing_words(tenants, settings, exact_up_to):
    settings.MEMORY_EXACT_SEARCH_MAX_ROWS = exact_up_to  # both vector paths
    settings.MEMORY_EXACT_SEARCH_MAX_SHARE = 0.0
    sofia = tenants["sofia"]
    _store(sofia, "Who maintains the treasury contracts?", "Marta reviews every treasury contract.")
    _store(sofia, "When is the community call?", "Every Thursday at 18:00.")
    _store(sofia, "Any news about the garden project?", "The greenhouse was finished last week.")
    result = query(agent_id=sofia.id, microdao_id=sofia.microdao_id, query="treasury contracts")
    assert result.items[0].text.startswith("User: Who maintains the treasury")
    assert result.items[0].tier == "mid"
    assert result.degraded is None
    assert 0 < result.items[-1].score <= result.items[0].score <= 1.0
    # A stemmed form of the word finds it too.
    result = query(agent_id=sofia.id, microdao_id=sofia.microdao_id, query="greenhouses finishing")
    assert "greenhouse" in result.items[0].text


def test_ukrainian_retrieval_by_inflected_words(tenants):
    sofia = tenants["sofia"]
    _store(sofia, "Що нового в проєкті Альфа?", "У проєкті Альфа три нові завдання.")  # noqa: RUF001
    _store(sofia, "Коли зустріч громади?", "Щочетверга о шостій.")  # noqa: RUF001
    _store(sofia, "Хто відповідає за скарбницю?", "Марта перевіряє всі контракти скарбниці.")
    # Other word forms than stored: проєкту/завданнями vs проєкті/завдання.
    result = query(
        agent_id=sofia.id, microdao_id=sofia.microdao_id, query="завданнями проєкту Альфа"
    )
    assert "Альфа" in result.items[0].text
    result = query(agent_id=sofia.id, microdao_id=sofia.microdao_id, query="скарбниця")
    assert "скарбниц" in result.items[0].text


def test_short_term_is_the_channels_latest_in_order_and_not_repeated_below(tenants):
    sofia = tenants["sofia"]
    for n in range(6):
        _store(sofia, f"message number {n}", f"reply number {n}", channel="general")
    _store(sofia, "elsewhere", "other channel", channel="random")
    result = query(
        agent_id=sofia.id,
        microdao_id=sofia.microdao_id,
        query="message number",
        channel_id="general",
        limit=3,
    )
    short = [item for item in result.items if item.tier == "short"]
    assert [item.text.split("\n")[0] for item in short] == [
        "User: message number 3",
        "User: message number 4",
        "User: message number 5",
    ]
    assert [item.score for item in short] == sorted(item.score for item in short)
    mid_ids = {item.id for item in result.items if item.tier == "mid"}
    assert len(mid_ids) == 3 and not mid_ids & {item.id for item in short}
    only_short = query(
        agent_id=sofia.id,
        microdao_id=sofia.microdao_id,
        query="anything",
        channel_id="general",
        tiers=["short"],
    )
    assert {item.tier for item in only_short.items} == {"short"}


def test_idempotent_store_is_a_no_op_and_a_different_payload_conflicts(tenants):
    sofia = tenants["sofia"]
    first = _store(sofia, "Remember my name", "Hello, Ivan.", idempotency_key="msg-42")
    again = _store(sofia, "Remember my name", "Hello, Ivan.", idempotency_key="msg-42")
    assert again.ids == first.ids and again.created is False and first.created is True
    assert Memory.objects.count() == 1 and MemoryEmbedding.objects.count() == 1
    with pytest.raises(Conflict):
        _store(sofia, "Something else", "Entirely.", idempotency_key="msg-42")
    # The same key of another agent is another memory.
    _store(tenants["oleh"], "Remember my name", "Hello, Ivan.", idempotency_key="msg-42")
    assert Memory.objects.count() == 2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"query": ""}, BadRequest),
        ({"query": "   "}, BadRequest),
        ({"query": "x" * 2001}, PayloadTooLarge),
        ({"limit": 0}, BadRequest),
        ({"limit": 51}, BadRequest),
        ({"tiers": ["forever"]}, BadRequest),
        ({"tiers": []}, BadRequest),
        ({"kinds": ["gossip"]}, BadRequest),
        ({"agent_id": "agent:nobody"}, NotFound),
        ({"microdao_id": "microdao:nowhere"}, PermissionDenied),  # one access policy
        ({"microdao_id": "microdao:beta"}, PermissionDenied),
    ],
)
def test_bad_queries_raise_clear_errors(tenants, kwargs, error):
    arguments = {"agent_id": "agent:sofia", "microdao_id": "microdao:alpha", "query": "hello"}
    with pytest.raises(error) as caught:
        query(**{**arguments, **kwargs})
    assert caught.value.message


def test_bad_stores_raise_clear_errors(tenants):
    sofia = tenants["sofia"]
    with pytest.raises(PayloadTooLarge):
        _store(sofia, "x" * 40000, "ok")
    with pytest.raises(BadRequest):
        _store(sofia, None, "")
    with pytest.raises(NotFound):
        store(
            agent_id="agent:ghost",
            microdao_id="microdao:alpha",
            channel_id=None,
            user_message="hi",
            agent_reply=None,
        )
    with pytest.raises(PermissionDenied):
        store(
            agent_id="agent:sofia",
            microdao_id="microdao:beta",
            channel_id=None,
            user_message="hi",
            agent_reply=None,
        )
    assert Memory.objects.count() == 0
