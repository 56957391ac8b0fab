"""The OpenAI Agents SDK: its default model (Responses API) and OpenAIChatCompletionsModel.

The Agents SDK has no embeddings API, so that check does not apply to it.
"""

from __future__ import annotations

import pytest

from tests.clients.checks import EXPECTED_CITY, City, assert_text, assert_tool_answer, get_weather
from tests.clients.conftest import client_module

agents = client_module("agents")
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["responses", "chat_completions"])
def model(request, gateway):
    import openai

    agents.set_tracing_disabled(True)
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=gateway.api_key)
    if request.param == "responses":
        # What `Agent(model="name")` uses by default: the Responses API.
        return agents.OpenAIResponsesModel(model=gateway.chat, openai_client=client)
    return agents.OpenAIChatCompletionsModel(model=gateway.chat, openai_client=client)


def test_default_model_is_the_responses_api(gateway):
    import openai

    agents.set_tracing_disabled(True)
    agents.set_default_openai_client(
        openai.AsyncOpenAI(base_url=gateway.base_url, api_key=gateway.api_key),
        use_for_tracing=False,
    )
    result = agents.Runner.run_sync(agents.Agent(name="a", model=gateway.chat), "Hi")
    assert_text(result.final_output)


async def test_chat(model):
    result = await agents.Runner.run(agents.Agent(name="a", model=model), "Hi")
    assert_text(result.final_output)


async def test_stream(model):
    from openai.types.responses import ResponseTextDeltaEvent

    run = agents.Runner.run_streamed(agents.Agent(name="a", model=model), "Hi")
    deltas = [
        event.data.delta
        async for event in run.stream_events()
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent)
    ]
    assert_text("".join(deltas))
    assert_text(run.final_output)


async def test_tools_round_trip(model):
    agent = agents.Agent(name="a", model=model, tools=[agents.function_tool(get_weather)])
    result = await agents.Runner.run(agent, "Weather in Kyiv?")
    assert_tool_answer(result.final_output)


async def test_structured_output(model):
    agent = agents.Agent(name="a", model=model, output_type=City)
    assert (await agents.Runner.run(agent, "A city")).final_output == EXPECTED_CITY
