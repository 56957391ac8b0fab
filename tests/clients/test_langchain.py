"""langchain-openai with its defaults (ChatOpenAI, OpenAIEmbeddings) against /v1."""

from __future__ import annotations

import pytest

from tests.clients.checks import (
    EXPECTED_CITY,
    City,
    assert_text,
    assert_tool_answer,
    assert_vectors,
    get_weather,
)
from tests.clients.conftest import client_module

langchain_openai = client_module("langchain_openai")
pytestmark = pytest.mark.django_db(transaction=True)


def _chat(gateway, **options):
    return langchain_openai.ChatOpenAI(
        model=gateway.chat, base_url=gateway.base_url, api_key=gateway.api_key, **options
    )


def test_chat(gateway):
    assert_text(_chat(gateway).invoke("Hi").content)


def test_stream(gateway):
    assert_text("".join(chunk.content for chunk in _chat(gateway).stream("Hi")))


def _tool_round_trip(model):
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool

    weather = tool(get_weather)
    bound = model.bind_tools([weather])
    messages = [HumanMessage("Weather in Kyiv?")]
    reply = bound.invoke(messages)
    call = reply.tool_calls[0]
    assert call["name"] == "get_weather"
    messages += [reply, ToolMessage(weather.invoke(call["args"]), tool_call_id=call["id"])]
    return bound.invoke(messages)


def test_tools_round_trip(gateway):
    assert_tool_answer(_tool_round_trip(_chat(gateway)).content)


def test_structured_output(gateway):
    assert _chat(gateway).with_structured_output(City).invoke("A city") == EXPECTED_CITY


def test_embeddings_default_token_arrays(gateway):
    embeddings = langchain_openai.OpenAIEmbeddings(
        model=gateway.embedding, base_url=gateway.base_url, api_key=gateway.api_key
    )
    vectors = embeddings.embed_documents(["проєкт X", "project X"])
    assert_vectors(vectors, 2)
    assert len(embeddings.embed_query("hello")) == 8
    sent = gateway.state.last("embeddings")["input"]
    assert isinstance(sent[0], list) and isinstance(sent[0][0], int)  # tokens, passed through


def test_responses_api(gateway):
    model = _chat(gateway, use_responses_api=True)
    assert_text(model.invoke("Hi").text)
    assert_text("".join(chunk.text for chunk in model.stream("Hi")))
    assert_tool_answer(_tool_round_trip(model).text)
    assert model.with_structured_output(City).invoke("A city") == EXPECTED_CITY
