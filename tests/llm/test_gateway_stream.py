"""Streaming through the gateway: chunks, fallback before the first byte, usage accounting for
finished, cut and abandoned streams."""

from __future__ import annotations

import pytest

from llm import errors, gateway
from llm.models import UsageStatus
from llm.providers.transport import close_clients
from llm.types import ChatRequest
from tests.fakes.openai_upstream import PROMPT_TOKENS, fake_upstream
from tests.llm.factories import OfflineProviderFactory, ProviderFactory, make_route
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


def _ask(**kwargs) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": "Hello!"}], **kwargs)


async def _route(*targets):
    def build():
        route = make_route("m")
        for priority, (provider, physical) in enumerate(targets, start=1):
            route.targets.create(
                provider=provider,
                physical_model=physical,
                priority=priority,
                input_price_per_1m=1,
                output_price_per_1m=2,
            )

    await db(build)()


async def test_stream_relays_chunks_and_records_upstream_usage(upstream):
    url, state = upstream
    await _route((await db(ProviderFactory)(base_url=url, name="up"), "fast"))
    chunks = [c async for c in gateway.chat_stream(_ask())]
    text = "".join(c.delta.get("content", "") for c in chunks if c.final is None)
    assert text == "word0 word1 word2 word3 word4 "
    final = chunks[-1].final
    assert final.message["content"] == text and final.finish_reason == "stop"
    assert final.usage["prompt_tokens"] == PROMPT_TOKENS
    assert final.usage["completion_tokens"] == 5
    assert state.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    [row] = await usage_rows()
    assert row.stream and row.status == UsageStatus.OK
    assert (row.prompt_tokens, row.completion_tokens) == (PROMPT_TOKENS, 5)
    assert str(row.cost_usd) == str(final.cost_usd)


async def test_stream_falls_back_before_the_first_chunk(upstream):
    url, _ = upstream
    await _route(
        (await db(ProviderFactory)(base_url=url, name="broken"), "error500"),
        (await db(ProviderFactory)(base_url=url, name="fine"), "fast"),
    )
    chunks = [c async for c in gateway.chat_stream(_ask())]
    assert chunks[-1].final.provider == "fine" and chunks[-1].final.fallback_used


async def test_stream_without_upstream_usage_estimates_tokens(upstream):
    url, _ = upstream
    await _route((await db(ProviderFactory)(base_url=url), "nousage"))
    chunks = [c async for c in gateway.chat_stream(_ask())]
    assert chunks[-1].final.usage["completion_tokens"] == 5  # five words seen
    [row] = await usage_rows()
    assert row.completion_tokens == 5 and row.prompt_tokens > 0


async def test_stream_cut_mid_way_raises_and_records_tokens_seen(upstream):
    url, _ = upstream
    await _route((await db(ProviderFactory)(base_url=url, name="cutter"), "cut"))
    seen = []
    with pytest.raises(errors.ProviderError):
        async for chunk in gateway.chat_stream(_ask()):
            seen.append(chunk.delta.get("content", ""))
    assert "".join(seen) == "word0 word1 "
    [row] = await usage_rows()
    assert row.status == UsageStatus.ERROR and row.stream
    assert row.completion_tokens == 2 and row.provider == "cutter"


async def test_abandoned_stream_is_recorded_once_with_tokens_seen(upstream):
    url, state = upstream
    state.stream_delay = 0.05
    await _route((await db(ProviderFactory)(base_url=url), "fast"))
    stream = await gateway.open_chat_stream(_ask())
    got = [await anext(stream) for _ in range(3)]  # role chunk + two words
    assert got[2].delta["content"] == "word1 "
    await stream.aclose()  # the client went away
    [row] = await usage_rows()
    assert row.status == UsageStatus.ABANDONED
    assert row.completion_tokens == 2 and row.cost_usd > 0


async def test_errors_before_streaming_are_raised_by_open_chat_stream():
    await db(lambda: make_route("other", OfflineProviderFactory()))()
    with pytest.raises(errors.UnknownModel):
        await gateway.open_chat_stream(_ask())
    [row] = await usage_rows()
    assert row.stream and row.status == UsageStatus.ERROR


async def test_offline_stream_with_forced_tool_call():
    await db(lambda: make_route("m", OfflineProviderFactory()))()
    tools = [{"type": "function", "function": {"name": "projects_list", "parameters": {}}}]
    chunks = [
        c
        async for c in gateway.chat_stream(_ask(params={"tools": tools, "tool_choice": "required"}))
    ]
    final = chunks[-1].final
    assert final.finish_reason == "tool_calls"
    assert final.message["tool_calls"][0]["function"]["name"] == "projects_list"


async def test_a_stream_never_iterated_still_leaves_its_row(upstream):
    import gc

    url, _ = upstream
    await _route((await db(ProviderFactory)(base_url=url), "fast"))
    stream = await gateway.open_chat_stream(_ask())
    del stream  # e.g. the client hung up before the response started
    gc.collect()
    [row] = await usage_rows()
    assert row.status == UsageStatus.ABANDONED and row.prompt_tokens > 0


async def test_closing_an_unstarted_stream_records_it_once(upstream):
    url, _ = upstream
    await _route((await db(ProviderFactory)(base_url=url), "fast"))
    stream = await gateway.open_chat_stream(_ask())
    await stream.aclose()
    await stream.aclose()
    [row] = await usage_rows()
    assert row.status == UsageStatus.ABANDONED
