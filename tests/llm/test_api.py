"""The gateway's HTTP APIs through Django's full ASGI stack (middleware, auth, error format)."""

from __future__ import annotations

import orjson
import pytest
from django.test import AsyncClient

from llm.providers.transport import close_clients
from tests.factories import AgentFactory, make_service_token
from tests.fakes.openai_upstream import fake_upstream
from tests.llm.factories import (
    OfflineProviderFactory,
    ProviderFactory,
    ProviderKeyFactory,
    make_route,
)
from tests.llm.helpers import db, usage_rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_http_clients():
    yield
    await close_clients()


@pytest.fixture
def client():
    return AsyncClient()


def _body(model="gpt-4.1-mini", **extra):
    return {"model": model, "messages": [{"role": "user", "content": "Hello!"}], **extra}


async def _post(client, path, body, headers):
    return await client.post(
        path, orjson.dumps(body), content_type="application/json", headers=headers
    )


async def _offline_routes():
    await db(lambda: make_route("gpt-4.1-mini", OfflineProviderFactory()))()


async def test_old_llm_proxy_request_works_unchanged(client, internal_headers):
    await _offline_routes()
    agent = await db(AgentFactory)(id="agent:test")
    body = _body(
        metadata={"agent_id": agent.id, "microdao_id": agent.microdao_id},
        temperature=0.2,
        max_tokens=512,
        tools=[],
        tool_choice="auto",
        stream=False,
    )
    response = await _post(client, "/internal/llm/proxy", body, internal_headers)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["message"]["role"] == "assistant" and "Hello!" in data["content"]
    assert data["finish_reason"] == "stop"
    assert set(data["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert data["provider"] == "offline" and data["fallback_used"] is False
    assert data["request_id"] == response.headers["X-Request-ID"]
    assert "cost_usd" in data and "latency_ms" in data
    [row] = await usage_rows()
    assert row.agent_id == "agent:test" and row.request_id == data["request_id"]


async def test_proxy_stream_is_sse(client, internal_headers):
    await _offline_routes()
    response = await _post(client, "/internal/llm/proxy", _body(stream=True), internal_headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = b"".join([part async for part in response.streaming_content]).decode()
    lines = [line[6:] for line in events.split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    final = orjson.loads(lines[-2])
    assert final["done"] is True and final["usage"]["total_tokens"] > 0
    text = "".join(orjson.loads(x)["delta"].get("content", "") for x in lines[:-2])
    assert text == final["message"]["content"]


async def test_errors_have_status_and_json_shape(client, internal_headers):
    await _offline_routes()
    unknown = await _post(client, "/internal/llm/proxy", _body("nope"), internal_headers)
    assert unknown.status_code == 404
    assert "gpt-4.1-mini" in unknown.json()["error"]["message"]
    malformed = await _post(client, "/internal/llm/proxy", {"model": "x"}, internal_headers)
    assert malformed.status_code == 422 and "messages" in malformed.json()["error"]["message"]
    bad_messages = await _post(
        client,
        "/internal/llm/proxy",
        {"model": "x", "messages": [{"content": "no role"}]},
        internal_headers,
    )
    assert bad_messages.status_code == 422
    not_json = await client.post(
        "/internal/llm/proxy", b"{oops", content_type="application/json", headers=internal_headers
    )
    assert 400 <= not_json.status_code < 500
    unauthenticated = await _post(client, "/internal/llm/proxy", _body(), {})
    assert unauthenticated.status_code == 401


async def test_rate_limited_is_429_with_retry_after(client, internal_headers):
    await _offline_routes()
    agent = await db(AgentFactory)(rate_limit="1/h")
    body = _body(metadata={"agent_id": agent.id})
    assert (await _post(client, "/internal/llm/proxy", body, internal_headers)).status_code == 200
    limited = await _post(client, "/internal/llm/proxy", body, internal_headers)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limited"


async def test_all_failed_is_502_listing_attempts_without_the_key(client, internal_headers, caplog):
    with fake_upstream() as (url, _):
        provider = await db(ProviderFactory)(base_url=url, name="keyed")
        key = await db(ProviderKeyFactory)(provider=provider, secret="sk-never-show-me-1234567890")
        await db(lambda: make_route("gpt-4.1-mini", provider, physical_model="auth"))()
        response = await _post(client, "/internal/llm/proxy", _body(), internal_headers)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["attempts"][0]["provider"] == "keyed"
    assert key.secret not in response.content.decode() and key.secret not in caplog.text


async def test_bound_token_cannot_act_as_another_agent(client):
    await _offline_routes()
    sofia = await db(AgentFactory)()
    other = await db(AgentFactory)()
    _, raw = await db(make_service_token)(scopes=["llm"], agent=sofia)
    headers = {"Authorization": f"Bearer {raw}"}
    body = _body(metadata={"agent_id": other.id})
    assert (await _post(client, "/internal/llm/proxy", body, headers)).status_code == 403
    ok = await _post(client, "/internal/llm/proxy", _body(), headers)
    assert ok.status_code == 200
    [row] = await usage_rows()
    assert row.agent_id == sofia.id  # the bound agent, even when not named


async def test_token_without_llm_scope_is_403(client):
    await _offline_routes()
    _, raw = await db(make_service_token)(scopes=["memory"])
    response = await _post(
        client, "/v1/chat/completions", _body(), {"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 403


async def test_proxy_passes_openai_parameters_through_and_keeps_metadata(client, internal_headers):
    with fake_upstream() as (url, state):
        await db(lambda: make_route("m", ProviderFactory(base_url=url), physical_model="fast"))()
        tools = [{"type": "function", "function": {"name": "t", "parameters": {}}}]
        body = _body(
            "m",
            metadata={"agent_id": None},
            temperature=0.2,
            max_tokens=512,
            tools=tools,
            tool_choice="auto",
            response_format={"type": "text"},
        )
        response = await _post(client, "/internal/llm/proxy", body, internal_headers)
    assert response.status_code == 200, response.content
    sent = state.requests[-1]["body"]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 512
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"
    assert sent["response_format"] == {"type": "text"}
    assert "metadata" not in sent and "stream" not in sent


async def test_stream_cut_mid_way_ends_with_an_error_event(client, internal_headers):
    with fake_upstream() as (url, _):
        await db(lambda: make_route("m", ProviderFactory(base_url=url), physical_model="cut"))()
        response = await _post(
            client, "/internal/llm/proxy", _body("m", stream=True), internal_headers
        )
        assert response.status_code == 200
        events = b"".join([part async for part in response.streaming_content]).decode()
    payloads = [e[6:] for e in events.split("\n\n") if e.startswith("data: ")]
    assert orjson.loads(payloads[-1])["error"]["type"] == "upstream_error"
    assert "[DONE]" not in payloads
    [row] = await usage_rows()
    assert row.status == "error" and row.stream


async def test_embeddings_endpoint_errors_and_fallback(client, internal_headers):
    with fake_upstream() as (url, state):

        def build():
            route = make_route(
                "emb",
                ProviderFactory(base_url=url, name="flaky-emb"),
                kind="embedding",
                physical_model="error500",
                dimensions=4,
            )
            route.targets.create(
                provider=ProviderFactory(base_url=url, name="good-emb"),
                physical_model="good",
                priority=5,
                dimensions=4,
            )

        await db(build)()
        ok = await _post(
            client,
            "/v1/embeddings",
            {"model": "emb", "input": ["a", "bb"], "encoding_format": "float"},
            internal_headers,
        )
        assert ok.status_code == 200, ok.content
        data = ok.json()["data"]
        assert [d["embedding"][0] for d in data] == [1.0, 2.0]
        assert state.calls["error500"] == 2 and state.calls["good"] == 1
    unknown = await _post(
        client, "/v1/embeddings", {"model": "nope", "input": "x"}, internal_headers
    )
    assert unknown.status_code == 404 and "emb" in unknown.json()["error"]["message"]
    empty_tokens = await _post(
        client, "/v1/embeddings", {"model": "emb", "input": [[]]}, internal_headers
    )
    assert empty_tokens.status_code == 400 and empty_tokens.json()["error"]["param"] == "input"
    chat_model = await _post(
        client, "/v1/embeddings", {"model": "emb", "input": []}, internal_headers
    )
    assert chat_model.status_code == 400
    # ok, unknown model, empty token array, empty input: refused requests leave a row too
    assert len(await usage_rows()) == 4
