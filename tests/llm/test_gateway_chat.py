"""Routing, retries, fallback, the circuit breaker and usage rows, against real fake upstreams."""

from __future__ import annotations

from decimal import Decimal

import pytest

from daarion.agents.access import AgentInactive, AgentNotFound
from llm import errors, gateway
from llm.breaker import breaker
from llm.models import ProviderKey, UsageStatus
from llm.providers.transport import close_clients
from llm.types import ChatRequest
from tests.factories import AgentFactory
from tests.fakes.openai_upstream import COMPLETION_TOKENS, PROMPT_TOKENS, REPLY, fake_upstream
from tests.fakes.server import free_port
from tests.llm.factories import ProviderFactory, ProviderKeyFactory, make_route
from tests.llm.helpers import db, usage_rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_http_clients():
    yield
    await close_clients()


@pytest.fixture
def upstream():
    with fake_upstream() as (url, state):
        yield url, state


def _ask(model="m", **kwargs) -> ChatRequest:
    return ChatRequest(model=model, messages=[{"role": "user", "content": "Hello!"}], **kwargs)


async def _route(name, *targets, **target_fields):
    """targets: (provider, physical_model) pairs, in priority order."""

    def build():
        route = make_route(name, kind="chat")
        for priority, (provider, physical) in enumerate(targets, start=1):
            route.targets.create(
                provider=provider,
                physical_model=physical,
                priority=priority,
                input_price_per_1m=target_fields.get("input", Decimal("1.00")),
                output_price_per_1m=target_fields.get("output", Decimal("2.00")),
            )
        return route

    return await db(build)()


async def _provider(base_url, name=None, **fields):
    kwargs = {"base_url": base_url, **fields}
    if name:
        kwargs["name"] = name
    return await db(ProviderFactory)(**kwargs)


async def test_first_target_answers_with_usage_and_cost(upstream):
    url, _state = upstream
    primary = await _provider(url, "primary")
    await _route("m", (primary, "fast"), input=Decimal("0.15"), output=Decimal("0.60"))
    result = await gateway.chat(_ask())
    assert result.message == {"role": "assistant", "content": REPLY}
    assert result.usage == {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }
    # (11 x 0.15 + 7 x 0.60) / 1M = 5.85e-6, exact in Decimal
    assert result.cost_usd == Decimal("0.00000585")
    assert (result.provider, result.physical_model, result.fallback_used) == (
        "primary",
        "fast",
        False,
    )
    [row] = await usage_rows()
    assert row.status == UsageStatus.OK
    assert row.cost_usd == Decimal("0.00000585")
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (11, 7, 18)
    assert row.request_id == result.request_id and row.attempt_count == 1


async def test_parameters_and_tools_pass_through_and_tool_calls_come_back(upstream):
    url, state = upstream
    await _route("m", (await _provider(url), "tools"))
    tools = [{"type": "function", "function": {"name": "projects_list", "parameters": {}}}]
    result = await gateway.chat(
        _ask(
            params={
                "temperature": 0.2,
                "max_tokens": 50,
                "tools": tools,
                "tool_choice": "auto",
                "top_p": 0.9,
                "seed": 7,
            }
        )
    )
    sent = state.requests[-1]["body"]
    assert sent["model"] == "tools"
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"
    assert (sent["temperature"], sent["max_tokens"], sent["top_p"], sent["seed"]) == (
        0.2,
        50,
        0.9,
        7,
    )
    assert result.finish_reason == "tool_calls"
    assert result.message["tool_calls"][0]["function"] == {
        "name": "projects_list",
        "arguments": '{"limit": 3}',
    }


async def test_5xx_is_retried_then_falls_back_in_priority_order(upstream):
    url, state = upstream
    await _route(
        "m", (await _provider(url, "bad"), "error500"), (await _provider(url, "good"), "fast")
    )
    result = await gateway.chat(_ask())
    assert result.provider == "good" and result.fallback_used
    assert state.calls["error500"] == 2  # one retry
    assert [a["outcome"] for a in result.attempts] == ["upstream_error", "upstream_error", "ok"]
    [row] = await usage_rows()
    assert row.fallback_used and row.attempt_count == 3 and row.provider == "good"


async def test_a_transient_5xx_is_retried_on_the_same_target(upstream):
    url, state = upstream
    await _route("m", (await _provider(url), "flaky"))
    result = await gateway.chat(_ask())
    assert state.calls["flaky"] == 2
    assert [a["outcome"] for a in result.attempts] == ["upstream_error", "ok"]
    assert not result.fallback_used


async def test_429_retry_after_is_honoured(upstream):
    url, state = upstream
    await _route("m", (await _provider(url), "ratelimit"))
    result = await gateway.chat(_ask())
    assert state.calls["ratelimit"] == 2
    first = result.attempts[0]
    assert first["outcome"] == "provider_rate_limited" and first["status_code"] == 429


async def test_429_with_a_long_retry_after_falls_back_at_once(upstream):
    url, state = upstream
    await _route(
        "m", (await _provider(url, "p1"), "ratelimit-long"), (await _provider(url, "p2"), "fast")
    )
    result = await gateway.chat(_ask())
    assert state.calls["ratelimit-long"] == 1
    assert result.provider == "p2"


async def test_timeout_falls_back_without_retrying(upstream):
    url, state = upstream
    state.slow_seconds = 0.8
    slow = await _provider(url, "slow", timeout_seconds=0.3)
    await _route("m", (slow, "slow"), (await _provider(url, "fast"), "fast"))
    result = await gateway.chat(_ask())
    assert result.provider == "fast"
    assert state.calls["slow"] == 1
    assert result.attempts[0]["outcome"] == "timeout"


async def test_connection_refused_and_malformed_json_fall_back(upstream):
    url, _state = upstream
    dead = await _provider(f"http://127.0.0.1:{free_port()}/v1", "dead")
    garbled = await _provider(url, "garbled")
    await _route("m", (dead, "fast"), (garbled, "malformed"), (await _provider(url, "ok"), "fast"))
    result = await gateway.chat(_ask())
    assert result.provider == "ok"
    outcomes = [(a["provider"], a["outcome"]) for a in result.attempts]
    assert outcomes == [
        ("dead", "connection_error"),
        ("dead", "connection_error"),
        ("garbled", "upstream_error"),
        ("garbled", "upstream_error"),
        ("ok", "ok"),
    ]


async def test_all_targets_failing_is_502_listing_each_attempt_and_one_row(upstream):
    url, _state = upstream
    await _route(
        "m", (await _provider(url, "a"), "error500"), (await _provider(url, "b"), "malformed")
    )
    with pytest.raises(errors.AllTargetsFailed) as caught:
        await gateway.chat(_ask())
    error = caught.value
    assert error.status_code == 502
    assert "a/error500: upstream_error" in error.message and "b/malformed" in error.message
    assert len(error.details["attempts"]) == 4
    [row] = await usage_rows()
    assert row.status == UsageStatus.ERROR and row.error_type == "upstream_error"
    assert row.attempt_count == 4 and row.cost_usd == 0


async def test_a_bad_request_is_returned_as_such_without_retry_or_fallback(upstream):
    url, state = upstream
    await _route("m", (await _provider(url, "a"), "badreq"), (await _provider(url, "b"), "fast"))
    with pytest.raises(errors.ProviderBadRequest) as caught:
        await gateway.chat(_ask())
    assert caught.value.status_code == 400
    assert "max_tokens is too large" in caught.value.message
    assert state.calls["badreq"] == 1 and state.calls["fast"] == 0
    [row] = await usage_rows()
    assert row.status == UsageStatus.ERROR


async def test_circuit_opens_skips_the_provider_and_closes_after_a_good_trial(upstream, settings):
    settings.LLM_RETRIES_PER_TARGET = 0
    settings.LLM_BREAKER_FAILURES = 1
    settings.LLM_BREAKER_COOLDOWN_SECONDS = 0.2
    url, state = upstream
    await _route(
        "m", (await _provider(url, "shaky"), "flaky"), (await _provider(url, "backup"), "fast")
    )
    first = await gateway.chat(_ask())
    assert first.provider == "backup" and breaker.state("shaky") == "open"
    second = await gateway.chat(_ask())
    assert second.attempts[0]["outcome"] == "skipped" and state.calls["flaky"] == 1
    import asyncio

    await asyncio.sleep(0.25)  # past the cool-down: one trial goes through
    assert breaker.state("shaky") == "half_open"
    third = await gateway.chat(_ask())
    assert third.provider == "shaky" and breaker.state("shaky") == "closed"
    assert len(await usage_rows()) == 3


async def test_a_failed_half_open_trial_reopens_and_all_open_is_503(upstream, settings):
    settings.LLM_RETRIES_PER_TARGET = 0
    settings.LLM_BREAKER_FAILURES = 1
    settings.LLM_BREAKER_COOLDOWN_SECONDS = 60
    url, state = upstream
    await _route("m", (await _provider(url, "down"), "error500"))
    with pytest.raises(errors.AllTargetsFailed):
        await gateway.chat(_ask())
    with pytest.raises(errors.NoEnabledTarget) as caught:
        await gateway.chat(_ask())
    assert caught.value.status_code == 503
    assert int(caught.value.headers["Retry-After"]) > 0
    assert state.calls["error500"] == 1
    rows = await usage_rows()
    assert [r.status for r in rows] == ["error", "error"]


async def test_unknown_model_names_the_known_ones_and_logs_a_row(upstream):
    url, _ = upstream
    await _route("known-a", (await _provider(url), "fast"))
    with pytest.raises(errors.UnknownModel) as caught:
        await gateway.chat(_ask("nope"))
    assert caught.value.status_code == 404
    assert "known-a" in caught.value.message
    assert caught.value.details["known_models"] == ["known-a"]
    [row] = await usage_rows()
    assert row.model == "nope" and row.error_type == "model_not_found"


async def test_route_without_enabled_targets_is_503(upstream):
    url, _ = upstream
    provider = await _provider(url, enabled=False)
    await _route("m", (provider, "fast"))
    with pytest.raises(errors.NoEnabledTarget) as caught:
        await gateway.chat(_ask())
    assert caught.value.status_code == 503


async def test_agent_rate_limit_refuses_with_retry_after_and_logs_every_request(upstream):
    url, _ = upstream
    agent = await db(AgentFactory)(rate_limit="2/m")
    await _route("m", (await _provider(url), "fast"))
    for _ in range(2):
        await gateway.chat(_ask(agent_id=agent.id))
    with pytest.raises(errors.AgentRateLimited) as caught:
        await gateway.chat(_ask(agent_id=agent.id))
    assert caught.value.status_code == 429
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 60
    rows = await usage_rows()
    assert [r.status for r in rows] == ["ok", "ok", "error"]
    assert rows[-1].error_type == "rate_limited" and rows[-1].agent_id == agent.id


async def test_unknown_or_inactive_agent_is_refused(upstream):
    url, _ = upstream
    await _route("m", (await _provider(url), "fast"))
    with pytest.raises(AgentNotFound):
        await gateway.chat(_ask(agent_id="agent:ghost"))
    agent = await db(AgentFactory)(is_active=False)
    with pytest.raises(AgentInactive):
        await gateway.chat(_ask(agent_id=agent.id))
    assert len(await usage_rows()) == 2


async def test_monthly_budget_refuses_once_spent(upstream):
    url, _ = upstream
    agent = await db(AgentFactory)()

    def set_budget():
        agent.microdao.monthly_budget_usd = Decimal("0.01")
        agent.microdao.save()

    await db(set_budget)()
    await _route("m", (await _provider(url), "fast"), input=Decimal("500"), output=Decimal("500"))
    first = await gateway.chat(_ask(agent_id=agent.id))  # 18 tokens x $500/1M = $0.009
    assert first.cost_usd == Decimal("0.009")
    await gateway.chat(_ask(agent_id=agent.id))  # spent 0.009 < 0.01: allowed
    with pytest.raises(errors.BudgetExceeded) as caught:
        await gateway.chat(_ask(agent_id=agent.id))
    assert caught.value.status_code == 429
    assert "monthly LLM budget" in caught.value.message
    rows = await usage_rows()
    assert [r.status for r in rows] == ["ok", "ok", "error"]
    assert rows[-1].microdao_id == agent.microdao_id


async def test_provider_key_is_sent_rotated_and_never_leaks(upstream, caplog):
    url, state = upstream
    provider = await _provider(url, "keyed")
    keys = [
        (
            await db(ProviderKeyFactory)(provider=provider, secret=f"sk-live-secret-{i}-XYZ987654")
        ).secret
        for i in range(2)
    ]
    await _route(
        "m",
        (provider, "fast"),
    )
    await gateway.chat(_ask())
    await gateway.chat(_ask())
    presented = {r["headers"]["Authorization"] for r in state.requests}
    assert presented == {f"Bearer {k}" for k in keys}
    await usage_rows()  # flushes the writer, which also records keys' last use
    stamps = [k async for k in ProviderKey.objects.values_list("last_used_at", flat=True)]
    assert all(stamp is not None for stamp in stamps)
    await _route("bad", (provider, "auth"))
    with pytest.raises(errors.AllTargetsFailed) as caught:
        await gateway.chat(_ask("bad"))
    text = caught.value.message + repr(caught.value.details) + caplog.text
    rows = await usage_rows()
    text += "".join(r.error_message + repr(r.attempts) for r in rows)
    assert "authentication failed" in caught.value.message
    for key in keys:
        assert key not in text and key[-12:] not in text


async def test_provider_key_echoed_in_a_successful_body_is_redacted(upstream):
    url, _state = upstream
    provider = await _provider(url, "echoing")
    key = (
        await db(ProviderKeyFactory)(provider=provider, secret="sk-live-echo-ABC123456789")
    ).secret
    await _route("echo", (provider, "echo-key"))
    result = await gateway.chat(_ask("echo"))
    text = repr(result)
    assert key not in text and key[-12:] not in text
    assert "Bearer" in text  # the reply came through, only the key is gone


def test_half_open_trial_is_released_when_cancelled(settings):
    from llm.breaker import CircuitBreaker

    cb = CircuitBreaker(threshold=lambda: 1, cooldown=lambda: 0.0)
    cb.record_failure("p", "timeout")
    assert cb.allow("p")  # the half-open trial
    assert not cb.allow("p")  # only one at a time
    cb.release_trial("p")
    assert cb.allow("p")
    cb.record_success("p")
    assert cb.state("p") == "closed"
