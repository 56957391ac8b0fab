"""The litellm SDK (its OpenAI-compatible provider, `openai/<model>`) against /v1."""

from __future__ import annotations

import json

import pytest

from tests.clients.checks import (
    EXPECTED_CITY,
    WEATHER_TOOL,
    City,
    assert_text,
    assert_tool_answer,
    assert_vectors,
    get_weather,
)
from tests.clients.conftest import client_module

litellm = client_module("litellm")
pytestmark = pytest.mark.django_db(transaction=True)
USER = [{"role": "user", "content": "Hi"}]


def _kwargs(gateway) -> dict:
    return {"api_base": gateway.base_url, "api_key": gateway.api_key}


def test_chat(gateway):
    reply = litellm.completion(model=f"openai/{gateway.chat}", messages=USER, **_kwargs(gateway))
    assert_text(reply.choices[0].message.content)


def test_stream(gateway):
    chunks = litellm.completion(
        model=f"openai/{gateway.chat}", messages=USER, stream=True, **_kwargs(gateway)
    )
    assert_text("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))


def test_tools_round_trip(gateway):
    def ask(messages):
        return litellm.completion(
            model=f"openai/{gateway.chat}", messages=messages, tools=[WEATHER_TOOL],
            **_kwargs(gateway),
        )  # fmt: skip

    first = ask(USER).choices[0].message
    call = first.tool_calls[0]
    result = get_weather(**json.loads(call.function.arguments))
    final = ask(
        [
            *USER,
            first.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": result},
        ]
    )
    assert_tool_answer(final.choices[0].message.content)


def test_structured_output(gateway):
    reply = litellm.completion(
        model=f"openai/{gateway.chat}", messages=USER, response_format=City, **_kwargs(gateway)
    )
    assert City.model_validate_json(reply.choices[0].message.content) == EXPECTED_CITY


def test_embeddings(gateway):
    result = litellm.embedding(
        model=f"openai/{gateway.embedding}", input=["a", "bb"], **_kwargs(gateway)
    )
    assert_vectors([item["embedding"] for item in result.data], 2)
