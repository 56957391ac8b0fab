"""pydantic-ai (OpenAIChatModel, OpenAIResponsesModel, OpenAIEmbeddingModel) against /v1."""

from __future__ import annotations

import pytest

from tests.clients.checks import EXPECTED_CITY, City, assert_text, assert_tool_answer, get_weather
from tests.clients.conftest import client_module

pydantic_ai = client_module("pydantic_ai")
pytestmark = pytest.mark.django_db(transaction=True)


def _provider(gateway):
    from pydantic_ai.providers.openai import OpenAIProvider

    return OpenAIProvider(base_url=gateway.base_url, api_key=gateway.api_key)


def _chat_model(gateway):
    from pydantic_ai.models.openai import OpenAIChatModel

    return OpenAIChatModel(gateway.chat, provider=_provider(gateway))


def _responses_model(gateway):
    from pydantic_ai.models.openai import OpenAIResponsesModel

    return OpenAIResponsesModel(gateway.chat, provider=_provider(gateway))


MODELS = {"chat": _chat_model, "responses": _responses_model}


@pytest.fixture(params=sorted(MODELS))
def model(request, gateway):
    return MODELS[request.param](gateway)


def test_chat(model):
    assert_text(pydantic_ai.Agent(model).run_sync("Hi").output)


async def test_stream(model):
    async with pydantic_ai.Agent(model).run_stream("Hi") as run:
        text = "".join([delta async for delta in run.stream_text(delta=True)])
    assert_text(text)


def test_tools_round_trip(model):
    agent = pydantic_ai.Agent(model, tools=[get_weather])
    assert_tool_answer(agent.run_sync("Weather in Kyiv?").output)


def test_structured_output(model):
    assert pydantic_ai.Agent(model, output_type=City).run_sync("A city").output == EXPECTED_CITY


def test_embeddings(gateway):
    from pydantic_ai.embeddings import Embedder
    from pydantic_ai.embeddings.openai import OpenAIEmbeddingModel

    embedder = Embedder(OpenAIEmbeddingModel(gateway.embedding, provider=_provider(gateway)))
    result = embedder.embed_documents_sync(["a", "bb"])
    assert len(result.embeddings) == 2 and all(len(v) == 8 for v in result.embeddings)
