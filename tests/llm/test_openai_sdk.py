"""/v1 used by the official `openai` SDK over a real socket, with a service token as the key."""

from __future__ import annotations

import math
import time

import httpx
import openai
import pytest

from llm.models import UsageLog, UsageStatus
from llm.providers.offline import hash_embedding
from llm.usage import usage_flush
from tests.factories import AgentFactory, make_service_token
from tests.fakes.openai_upstream import fake_upstream
from tests.llm.factories import OfflineProviderFactory, ProviderFactory, make_route

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agent():
    return AgentFactory()


@pytest.fixture
def sdk(live_server_url, agent):
    offline = OfflineProviderFactory()
    make_route("gpt-4.1-mini", offline)
    make_route("offline-embed", offline, kind="embedding", dimensions=384)
    _, raw = make_service_token(scopes=["llm"], agent=agent)
    with openai.OpenAI(base_url=f"{live_server_url}/v1", api_key=raw, max_retries=0) as client:
        yield client


def test_chat_completion(sdk, agent):
    completion = sdk.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "Привіт!"}], temperature=0.1
    )
    assert "Привіт!" in completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    usage_flush()
    row = UsageLog.objects.get()
    assert row.agent_id == agent.id and row.status == UsageStatus.OK


def test_chat_completion_stream_with_usage(sdk):
    stream = sdk.chat.completions.create(
        model="gpt-4.1-mini",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "stream please" in text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_tool_calls_from_a_real_upstream_come_back_openai_shaped(live_server_url, agent):
    with fake_upstream() as (url, state):
        make_route("tooling", ProviderFactory(base_url=url), physical_model="tools")
        _, raw = make_service_token(scopes=["llm"], agent=agent)
        client = openai.OpenAI(base_url=f"{live_server_url}/v1", api_key=raw, max_retries=0)
        tools = [
            {
                "type": "function",
                "function": {"name": "projects_list", "parameters": {"type": "object"}},
            }
        ]
        completion = client.chat.completions.create(
            model="tooling", messages=[{"role": "user", "content": "list"}], tools=tools
        )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "projects_list" and call.function.arguments == '{"limit": 3}'
    assert state.requests[-1]["body"]["tools"] == tools


def test_embeddings_base64_default_and_float(sdk):
    texts = ["проєкт X", "project X"]
    default = sdk.embeddings.create(model="offline-embed", input=texts)  # SDK asks for base64
    floats = sdk.embeddings.create(model="offline-embed", input=texts, encoding_format="float")
    assert len(default.data) == 2 and len(default.data[0].embedding) == 384
    expected = hash_embedding("проєкт X", 384)
    assert all(
        math.isclose(a, b, abs_tol=1e-6)
        for a, b in zip(default.data[0].embedding, expected, strict=True)
    )
    assert floats.data[1].embedding == pytest.approx(hash_embedding("project X", 384))
    assert default.usage.prompt_tokens > 0


def test_models_list(sdk):
    ids = {m.id for m in sdk.models.list()}
    assert ids == {"gpt-4.1-mini", "offline-embed"}


def test_errors_map_to_sdk_exceptions(sdk, agent):
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert "gpt-4.1-mini" in str(caught.value)
    agent.rate_limit = "1/h"
    agent.save()
    sdk.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.chat.completions.create(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    bad = openai.OpenAI(base_url=sdk.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_unbound_token_names_the_agent_with_user(live_server_url, agent):
    make_route("gpt-4.1-mini", OfflineProviderFactory())
    _, raw = make_service_token(scopes=["llm"])
    client = openai.OpenAI(base_url=f"{live_server_url}/v1", api_key=raw, max_retries=0)
    client.chat.completions.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "x"}], user=agent.id
    )
    usage_flush()
    assert UsageLog.objects.get().agent_id == agent.id


def test_abandoned_http_stream_is_recorded(live_server_url, internal_headers):
    with fake_upstream() as (url, state):
        state.stream_delay = 0.3
        make_route("slowstream", ProviderFactory(base_url=url), physical_model="fast")
        body = {
            "model": "slowstream",
            "stream": True,
            "messages": [{"role": "user", "content": "go"}],
        }
        with (
            httpx.Client(timeout=10) as client,
            client.stream(
                "POST", f"{live_server_url}/internal/llm/proxy", json=body, headers=internal_headers
            ) as response,
        ):
            assert response.status_code == 200
            events = 0
            for line in response.iter_lines():
                if line.startswith("data: "):
                    events += 1
                if events == 3:
                    break  # hang up mid-stream
        deadline = time.monotonic() + 10
        row = None
        while time.monotonic() < deadline:
            usage_flush()
            row = UsageLog.objects.filter(model="slowstream").first()
            if row is not None:
                break
            time.sleep(0.1)
    assert row is not None, "no usage row for the abandoned stream"
    assert row.status == UsageStatus.ABANDONED and row.stream
    assert 1 <= row.completion_tokens < 5
