"""Streaming: connect to a target (an attempt succeeds once its first event arrives), relay the
provider's events as ChatChunks, and account the stream however it ends — finished, failed
mid-way, closed, cancelled, or dropped without ever being iterated.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from llm import errors
from llm.breaker import breaker
from llm.gateway.accounting import Accounted, account, account_durably, chat_result
from llm.gateway.call import Call
from llm.models import UsageStatus
from llm.providers import adapter_for
from llm.providers.base import ProviderStreamEvent
from llm.providers.offline import count_tokens
from llm.registry import TargetInfo
from llm.types import ChatChunk, ChatRequest, ChatResult

Connected = tuple[AsyncGenerator[ProviderStreamEvent, None], ProviderStreamEvent]


async def stream_connect(
    request: ChatRequest, target: TargetInfo, api_key: str | None
) -> Connected:
    """One streaming attempt: open the provider's stream and wait for its first event, so that
    a target failing before it answers anything can still fall back to the next one."""
    events = adapter_for(target.provider.kind).chat_stream(
        provider=target.provider,
        api_key=api_key,
        model=target.physical_model,
        messages=request.messages,
        params=request.params,
    )
    try:
        first = await anext(events)
    except StopAsyncIteration:
        raise errors.ProviderUpstreamError(f"{target.provider.name}: empty stream") from None
    except BaseException:
        await events.aclose()
        raise
    return events, first


def prompt_estimate(messages: list[dict]) -> int:
    return sum(count_tokens(str(m.get("content") or "")) + 3 for m in messages)


def _merge_tool_calls(assembled: dict[int, dict], deltas: list[dict]) -> None:
    for delta in deltas:
        index = delta.get("index", 0)
        call = assembled.setdefault(
            index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if delta.get("id"):
            call["id"] = delta["id"]
        if delta.get("type"):
            call["type"] = delta["type"]
        function = delta.get("function") or {}
        if function.get("name"):
            call["function"]["name"] += function["name"]
        if function.get("arguments"):
            call["function"]["arguments"] += function["arguments"]


class ChatStream:
    """The chunk iterator of a gateway stream (`async for`, then `aclose()`).

    Guarantees the request's single UsageLog row however the consumer behaves: finished,
    failed, closed mid-way, cancelled, or dropped without ever being iterated.
    """

    def __init__(self, call: Call, request: ChatRequest, connected: Connected) -> None:
        self._call = call
        self._messages = request.messages
        self._relay = _relay(call, request, *connected)

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> ChatChunk:
        return await self._relay.__anext__()

    async def aclose(self) -> None:
        try:
            await self._relay.aclose()
        finally:
            if not self._call.recorded:
                self._record_unstarted()

    def __del__(self) -> None:
        # Only queues a row (no I/O, no await): safe from the garbage collector.
        if not self._call.recorded:
            self._record_unstarted()

    def _record_unstarted(self) -> None:
        # The consumer never iterated (e.g. the client left before the response started).
        account(
            self._call,
            status=UsageStatus.ABANDONED,
            prompt_tokens=prompt_estimate(self._messages),
            wait=False,
        )


async def _relay(
    call: Call,
    request: ChatRequest,
    events: AsyncGenerator[ProviderStreamEvent, None],
    first: ProviderStreamEvent,
) -> AsyncGenerator[ChatChunk, None]:
    content: list[str] = []  # choice 0's text (the final message is choice 0, as in chat())
    reasoning: list[str] = []  # choice 0's reasoning_content (DeepSeek, vLLM, …)
    tool_calls: dict[int, dict] = {}
    finish_reason: str | None = None
    usage: dict | None = None
    fingerprint: str | None = None
    target = call.target
    assert target is not None  # connected: the attempts loop set it
    provider, physical = target.provider.name, target.physical_model

    def tokens() -> tuple[int, int]:
        if usage:
            return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        # No usage from upstream (or abandoned early): estimate from what was seen.
        seen = "".join(content) + "".join(
            c["function"]["name"] + c["function"]["arguments"] for c in tool_calls.values()
        )
        return prompt_estimate(request.messages), count_tokens(seen)

    def result(accounted: Accounted, prompt: int, completion: int, failed: bool) -> ChatResult:
        message: dict = {"role": "assistant", "content": "".join(content) or None}
        if reasoning:
            message["reasoning_content"] = "".join(reasoning)
        if tool_calls:
            message["tool_calls"] = [tool_calls[i] for i in sorted(tool_calls)]
        return chat_result(
            call,
            message=message,
            finish_reason=finish_reason or ("error" if failed else "stop"),
            prompt_tokens=prompt,
            completion_tokens=completion,
            accounted=accounted,
            # OpenAI fields /v1 hands on (usage details, system_fingerprint)
            extra={k: v for k, v in (("usage", usage), ("system_fingerprint", fingerprint)) if v},
        )

    try:
        event: ProviderStreamEvent | None = first
        while event is not None:
            if event.usage:
                usage = event.usage
            fingerprint = event.system_fingerprint or fingerprint
            if event.delta or event.finish_reason or event.logprobs:
                delta = event.delta or {}
                if event.index == 0:
                    if delta.get("content"):
                        content.append(delta["content"])
                    if delta.get("reasoning_content"):
                        reasoning.append(delta["reasoning_content"])
                    if delta.get("tool_calls"):
                        _merge_tool_calls(tool_calls, delta["tool_calls"])
                    if event.finish_reason:
                        finish_reason = event.finish_reason
                yield ChatChunk(
                    request_id=call.request_id,
                    model=request.model,
                    delta=delta,
                    finish_reason=event.finish_reason,
                    provider=provider,
                    physical_model=physical,
                    index=event.index,
                    logprobs=event.logprobs,
                    system_fingerprint=event.system_fingerprint,
                )
            event = await anext(events, None)
        prompt, completion = tokens()
        accounted = await account_durably(
            call, status=UsageStatus.OK, prompt_tokens=prompt, completion_tokens=completion
        )
        yield ChatChunk(
            request_id=call.request_id,
            model=request.model,
            delta={},
            provider=provider,
            physical_model=physical,
            final=result(accounted, prompt, completion, failed=False),
        )
    except errors.ProviderError as exc:
        breaker.record_failure(provider, exc.error_type)
        call.attempts[-1].detail = f"failed mid-stream: {exc.message}"
        prompt, completion = tokens()
        await account_durably(
            call,
            status=UsageStatus.ERROR,
            prompt_tokens=prompt,
            completion_tokens=completion,
            error=exc,
        )
        raise
    finally:
        if not call.recorded:  # the consumer went away (closed or cancelled) mid-stream
            prompt, completion = tokens()
            account(
                call,
                status=UsageStatus.ABANDONED,
                prompt_tokens=prompt,
                completion_tokens=completion,
                wait=False,
            )
        await events.aclose()
