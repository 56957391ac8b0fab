"""The official openai SDK (sync and async), default settings, against /v1."""

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

openai = client_module("openai")
pytestmark = pytest.mark.django_db(transaction=True)
USER = [{"role": "user", "content": "Hi"}]
RESPONSES_TOOL = {"type": "function", **WEATHER_TOOL["function"]}


@pytest.fixture
def client(gateway):
    with openai.OpenAI(base_url=gateway.base_url, api_key=gateway.api_key) as client:
        yield client


@pytest.fixture
async def aclient(gateway):
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=gateway.api_key) as client:
        yield client


# --- chat completions (sync) -------------------------------------------------------------------
def test_chat(client, gateway):
    completion = client.chat.completions.create(model=gateway.chat, messages=USER)
    assert_text(completion.choices[0].message.content)
    assert completion.usage.prompt_tokens_details.cached_tokens == 3
    assert completion.system_fingerprint == "fp_scripted"


def test_stream(client, gateway):
    stream = client.chat.completions.create(
        model=gateway.chat, messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert_text("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == 2


def _tool_round_trip(first, call_again):
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    result = get_weather(**json.loads(call.function.arguments))
    messages = [
        *USER,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": result},
    ]
    return call_again(messages)


def test_tools_round_trip(client, gateway):
    def ask(messages):
        return client.chat.completions.create(
            model=gateway.chat, messages=messages, tools=[WEATHER_TOOL]
        )

    final = _tool_round_trip(ask(USER), ask)
    assert_tool_answer(final.choices[0].message.content)


def test_structured_output(client, gateway):
    completion = client.chat.completions.parse(
        model=gateway.chat, messages=USER, response_format=City
    )
    assert completion.choices[0].message.parsed == EXPECTED_CITY
    sent = gateway.state.last("chat")["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True


def test_embeddings(client, gateway):
    result = client.embeddings.create(model=gateway.embedding, input=["a", "bb"])
    assert_vectors([d.embedding for d in result.data], 2)


# --- chat completions (async) ------------------------------------------------------------------
async def test_async_chat_stream_tools_structured_embeddings(aclient, gateway):
    completion = await aclient.chat.completions.create(model=gateway.chat, messages=USER)
    assert_text(completion.choices[0].message.content)

    stream = await aclient.chat.completions.create(model=gateway.chat, messages=USER, stream=True)
    assert_text("".join([c.choices[0].delta.content or "" async for c in stream if c.choices]))

    async def ask(messages):
        return await aclient.chat.completions.create(
            model=gateway.chat, messages=messages, tools=[WEATHER_TOOL]
        )

    first = await ask(USER)
    call = first.choices[0].message.tool_calls[0]
    final = await ask(
        [
            *USER,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": get_weather(city="Kyiv")},
        ]
    )
    assert_tool_answer(final.choices[0].message.content)

    parsed = await aclient.chat.completions.parse(
        model=gateway.chat, messages=USER, response_format=City
    )
    assert parsed.choices[0].message.parsed == EXPECTED_CITY

    result = await aclient.embeddings.create(model=gateway.embedding, input="a")
    assert_vectors([d.embedding for d in result.data], 1)


# --- the Responses API -------------------------------------------------------------------------
def test_responses_chat_and_stream(client, gateway):
    response = client.responses.create(model=gateway.chat, input="Hi", instructions="Be brief.")
    assert_text(response.output_text)
    assert response.status == "completed" and response.usage.input_tokens == 13
    sent = gateway.state.last("chat")["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}

    with client.responses.stream(model=gateway.chat, input="Hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert_text("".join(deltas))
    assert_text(final.output_text)


def test_responses_tools_round_trip(client, gateway):
    first = client.responses.create(model=gateway.chat, input="Weather?", tools=[RESPONSES_TOOL])
    call = next(item for item in first.output if item.type == "function_call")
    output = get_weather(**json.loads(call.arguments))
    final = client.responses.create(
        model=gateway.chat,
        input=[
            {"role": "user", "content": "Weather?"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": call.call_id, "output": output},
        ],
        tools=[RESPONSES_TOOL],
    )
    assert_tool_answer(final.output_text)


def test_responses_structured_output(client, gateway):
    response = client.responses.parse(model=gateway.chat, input="A city", text_format=City)
    assert response.output_parsed == EXPECTED_CITY


async def test_async_responses_stream(aclient, gateway):
    stream = await aclient.responses.create(model=gateway.chat, input="Hi", stream=True)
    events = [event async for event in stream]
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert_text(events[-1].response.output_text)
