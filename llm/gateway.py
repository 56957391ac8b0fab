"""The single entry point of the LLM gateway.

    resolve the logical model → agent checks and per-agent rate limit → microDAO budget →
    targets in priority order (circuit breaker, bounded retries with backoff honouring
    Retry-After, fallback on timeout / connection error / 5xx / 429) → exactly one UsageLog row.

Public: `chat`, `chat_stream` / `open_chat_stream`, `embed`, `embedding_models`. Errors are
llm.errors.* (daarion ApiErrors). Nothing here queries the registry per request: routes, agents
and budgets come from per-process caches invalidated by model signals.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from daarion.agents.access import agent_access_acheck
from daarion.common.request_context import request_id_or_new
from llm import errors
from llm.breaker import breaker
from llm.budget import budget_acheck
from llm.limits import agent_rate_limit_hit
from llm.metrics import metrics_observe
from llm.models import RouteKind, UsageStatus
from llm.providers import adapter_for
from llm.providers.base import ProviderChat, ProviderStreamEvent
from llm.providers.offline import count_tokens
from llm.registry import (
    RouteInfo,
    TargetInfo,
    registry_aget,
    registry_get,
)
from llm.types import (
    Attempt,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingModelInfo,
    EmbeddingResult,
)
from llm.usage import UsageRow, cost_usd, usage_record, usage_wait, usage_writer

logger = logging.getLogger(__name__)

__all__ = [
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "ChatStream",
    "EmbeddingModelInfo",
    "EmbeddingResult",
    "chat",
    "chat_stream",
    "embed",
    "embedding_models",
    "open_chat_stream",
]


def _setting(name: str, default):
    return getattr(settings, name, default)


@dataclass(slots=True)
class _Call:
    """What one gateway request has learned so far (for its single UsageLog row)."""

    kind: str
    model: str
    request_id: str
    agent_id: str = ""
    microdao_id: str = ""
    stream: bool = False
    started: float = field(default_factory=time.perf_counter)
    attempts: list[Attempt] = field(default_factory=list)
    recorded: bool = False

    @property
    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def record(
        self,
        *,
        status: str,
        target: TargetInfo | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost: Decimal = Decimal(0),
        error: BaseException | None = None,
        fallback_used: bool = False,
        wait: bool = True,
    ) -> tuple[float, asyncio.Future | None]:
        """Queue the one UsageLog row of this request (idempotent).

        Returns the latency in ms and, when `wait` and durable usage are on, a future to
        await (`usage_wait`) before answering: set once the row is committed.
        """
        latency_ms = self.elapsed_ms
        if self.recorded:
            return latency_ms, None
        self.recorded = True
        provider = target.provider.name if target else ""
        error_type = ""
        error_message = ""
        if error is not None:
            error_type = getattr(error, "error_type", None) or type(error).__name__
            error_message = (getattr(error, "message", None) or str(error))[:500]
        made = [a for a in self.attempts if a.outcome != "skipped"]
        future = usage_record(
            UsageRow(
                created_at=timezone.now(),
                request_id=self.request_id,
                kind=self.kind,
                agent_id=self.agent_id,
                microdao_id=self.microdao_id,
                model=self.model[:128],
                provider=provider,
                physical_model=target.physical_model if target else "",
                attempts=[a.as_dict() for a in self.attempts],
                attempt_count=len(made),
                fallback_used=fallback_used,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
                latency_ms=round(latency_ms, 3),
                cost_usd=cost,
                status=status,
                error_type=error_type[:64],
                error_message=error_message,
                stream=self.stream,
            ),
            wait=wait and _setting("LLM_USAGE_DURABLE", True),
        )
        metrics_observe(
            kind=self.kind,
            route=self.model[:128],
            provider=provider,
            status=status,
            error_type=error_type,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost,
            latency_seconds=latency_ms / 1000,
        )
        return latency_ms, future

    async def record_failure(self, exc: BaseException) -> None:
        """The row of a failed request; awaited unless the request itself was cancelled."""
        cancelled = isinstance(exc, asyncio.CancelledError)
        _, future = self.record(status=UsageStatus.ERROR, error=exc, wait=not cancelled)
        await usage_wait(future)


def _on_circuit_change(provider: str, state: str, detail: str) -> None:
    from llm.models import HealthState
    from llm.services import provider_health_set

    health = HealthState.FAILING if state == "open" else HealthState.OK
    logger.warning("llm provider %s circuit %s %s", provider, state, detail)
    usage_writer.submit_task(
        lambda: provider_health_set(
            provider_name=provider, state=health, detail=f"circuit {state} {detail}".strip()
        )
    )


breaker.on_change = _on_circuit_change


# --- admission: route, agent, rate limit, budget ---------------------------------------------
async def _admit(
    call: _Call,
    *,
    model: str,
    kind: str,
    agent_id: str | None,
    microdao_id: str | None,
    rate_limited: bool,
) -> RouteInfo:
    registry = await registry_aget()
    route = registry.routes.get(model)
    if route is None or route.kind != kind:
        known = registry.known_models(kind)
        raise errors.UnknownModel(
            f"Unknown {'embedding ' if kind == RouteKind.EMBEDDING else ''}model '{model}'. "
            f"Known models: {', '.join(known) or '(none configured)'}.",
            details={"known_models": known},
        )
    if agent_id:
        agent = await agent_access_acheck(agent_id=agent_id, microdao_id=microdao_id or None)
        call.microdao_id = agent.microdao_id
        if rate_limited:
            retry_after = agent_rate_limit_hit(agent_id=agent_id, rate=agent.rate_limit)
            if retry_after is not None:
                raise errors.AgentRateLimited(
                    f"Agent '{agent_id}' exceeded its rate limit of {agent.rate_limit}.",
                    retry_after=retry_after,
                    details={"rate_limit": agent.rate_limit},
                )
    if call.microdao_id:
        over = await budget_acheck(microdao_id=call.microdao_id)
        if over is not None:
            budget, spent = over
            raise errors.BudgetExceeded(
                f"microDAO '{call.microdao_id}' has used its monthly LLM budget "
                f"(${budget} this month, ${spent.quantize(Decimal('0.0001'))} spent).",
                retry_after=_seconds_to_next_month(),
                details={"budget_usd": str(budget), "spent_usd": str(spent)},
            )
    if not route.targets:
        raise errors.NoEnabledTarget(f"Model '{model}' has no enabled target.")
    return route


def _seconds_to_next_month() -> float:
    now = timezone.now()
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return (
        now.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0) - now
    ).total_seconds()


# --- trying targets ----------------------------------------------------------------------------
def _backoff(retry: int, retry_after: float | None) -> float | None:
    """Seconds to wait before retry number `retry` (0-based), or None to move on instead."""
    if retry_after is not None:
        if retry_after > _setting("LLM_RETRY_AFTER_MAX_SECONDS", 5.0):
            return None
        return retry_after
    base = _setting("LLM_RETRY_BACKOFF_SECONDS", 0.2)
    return base * (2**retry) * (0.5 + random.random() / 2)  # noqa: S311  (jitter, not crypto)


def _attempt_failed(call: _Call, target: TargetInfo, exc: errors.ProviderError, t0: float) -> None:
    call.attempts.append(
        Attempt(
            provider=target.provider.name,
            physical_model=target.physical_model,
            outcome=exc.error_type,
            detail=exc.message,
            status_code=exc.upstream_status,
            latency_ms=(time.perf_counter() - t0) * 1000,
        )
    )
    if exc.fallback:  # the provider's fault (not the caller's): counts towards the breaker
        breaker.record_failure(target.provider.name, exc.error_type)
    logger.warning("llm attempt failed: %s", exc.message)


async def _try_targets(call: _Call, route: RouteInfo, attempt_fn):
    """Run `attempt_fn(target)` over the route's targets. Returns (target, index, value)."""
    targets = route.ordered_targets()
    retries = _setting("LLM_RETRIES_PER_TARGET", 1)
    last_error: errors.ProviderError | None = None
    for index, target in enumerate(targets):
        name = target.provider.name
        if not breaker.allow(name):
            call.attempts.append(
                Attempt(name, target.physical_model, "skipped", "circuit open (cooling down)")
            )
            continue
        for retry in range(retries + 1):
            t0 = time.perf_counter()
            try:
                value = await attempt_fn(target)
            except errors.ProviderError as exc:
                last_error = exc
                _attempt_failed(call, target, exc, t0)
                if not exc.fallback:
                    breaker.record_success(name)  # it answered: the request was at fault
                    raise
                if exc.retryable and retry < retries:
                    delay = _backoff(retry, getattr(exc, "retry_after", None))
                    if delay is not None:
                        await asyncio.sleep(delay)
                        continue
                break
            except BaseException:
                breaker.release_trial(name)  # cancelled mid-attempt: let another request try
                raise
            breaker.record_success(name)
            call.attempts.append(
                Attempt(
                    name, target.physical_model, "ok", latency_ms=(time.perf_counter() - t0) * 1000
                )
            )
            return target, index, value
    if last_error is None:  # every target was skipped by the breaker
        wait = min(breaker.retry_after(t.provider.name) for t in targets)
        error = errors.NoEnabledTarget(
            f"Every provider of model '{route.name}' is cooling down after repeated failures.",
            details={"attempts": [a.as_dict() for a in call.attempts]},
        )
        error.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        raise error
    reasons = "; ".join(
        f"{a.provider}/{a.physical_model}: {a.outcome}" + (f" ({a.detail})" if a.detail else "")
        for a in call.attempts
    )
    raise errors.AllTargetsFailed(
        f"All targets of model '{route.name}' failed: {reasons}",
        details={"attempts": [a.as_dict() for a in call.attempts]},
    )


# --- chat --------------------------------------------------------------------------------------
def _validate_chat(request: ChatRequest) -> None:
    if not isinstance(request.model, str) or not request.model:
        raise errors.InvalidLlmRequest("'model' must be a non-empty string.")
    if not isinstance(request.messages, list) or not request.messages:
        raise errors.InvalidLlmRequest("'messages' must be a non-empty list.")
    for i, message in enumerate(request.messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise errors.InvalidLlmRequest(f"messages[{i}] must be an object with a 'role'.")
    if not isinstance(request.params, dict):
        raise errors.InvalidLlmRequest("'params' must be an object.")


def _new_call(request: ChatRequest, *, stream: bool) -> _Call:
    return _Call(
        kind=RouteKind.CHAT,
        model=str(request.model or ""),
        request_id=request_id_or_new(request.request_id),
        agent_id=request.agent_id or "",
        microdao_id=request.microdao_id or "",
        stream=stream,
    )


def _cost(target: TargetInfo, prompt_tokens: int, completion_tokens: int) -> Decimal:
    return cost_usd(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        input_price_per_1m=target.input_price_per_1m,
        output_price_per_1m=target.output_price_per_1m,
    )


async def chat(request: ChatRequest) -> ChatResult:
    """One chat completion through the gateway. Raises llm.errors.* on failure."""
    call = _new_call(request, stream=False)
    try:
        _validate_chat(request)
        route = await _admit(
            call,
            model=request.model,
            kind=RouteKind.CHAT,
            agent_id=request.agent_id,
            microdao_id=request.microdao_id,
            rate_limited=True,
        )

        async def attempt(target: TargetInfo) -> ProviderChat:
            return await adapter_for(target.provider.kind).chat(
                provider=target.provider,
                model=target.physical_model,
                messages=request.messages,
                params=request.params,
            )

        target, index, reply = await _try_targets(call, route, attempt)
    except BaseException as exc:
        await call.record_failure(exc)
        raise
    cost = _cost(target, reply.prompt_tokens, reply.completion_tokens)
    latency_ms, committed = call.record(
        status=UsageStatus.OK,
        target=target,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost=cost,
        fallback_used=index > 0,
    )
    await usage_wait(committed)
    return ChatResult(
        message=reply.message,
        finish_reason=reply.finish_reason,
        usage={
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
        cost_usd=cost,
        latency_ms=round(latency_ms, 3),
        provider=target.provider.name,
        physical_model=target.physical_model,
        fallback_used=index > 0,
        attempts=[a.as_dict() for a in call.attempts],
        request_id=call.request_id,
        model=request.model,
    )


# --- streaming ---------------------------------------------------------------------------------
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


def _prompt_estimate(messages: list[dict]) -> int:
    return sum(count_tokens(str(m.get("content") or "")) + 3 for m in messages)


async def open_chat_stream(request: ChatRequest) -> ChatStream:
    """Admit the request and connect to a target; then return the chunk iterator.

    Errors before the first chunk (unknown model, limits, every target failing) are raised here,
    so an HTTP layer can still answer them with a status code. A failure after that ends the
    iterator with the ProviderError. The UsageLog row is written when the stream finishes,
    fails or is abandoned (closed/cancelled) — with the tokens seen so far.
    """
    call = _new_call(request, stream=True)
    try:
        _validate_chat(request)
        route = await _admit(
            call,
            model=request.model,
            kind=RouteKind.CHAT,
            agent_id=request.agent_id,
            microdao_id=request.microdao_id,
            rate_limited=True,
        )

        async def attempt(target: TargetInfo):
            events = adapter_for(target.provider.kind).chat_stream(
                provider=target.provider,
                model=target.physical_model,
                messages=request.messages,
                params=request.params,
            )
            try:
                first = await anext(events)
            except StopAsyncIteration:
                raise errors.ProviderUpstreamError(
                    f"{target.provider.name}: empty stream"
                ) from None
            except BaseException:
                await events.aclose()
                raise
            return events, first

        target, index, (events, first) = await _try_targets(call, route, attempt)
    except BaseException as exc:
        await call.record_failure(exc)
        raise
    relay = _relay(call, request, target, index, events, first)

    def record_unstarted() -> None:
        # The consumer never iterated (e.g. the client left before the response started).
        call.record(
            status=UsageStatus.ABANDONED,
            target=target,
            prompt_tokens=_prompt_estimate(request.messages),
            cost=_cost(target, _prompt_estimate(request.messages), 0),
            fallback_used=index > 0,
            wait=False,
        )

    return ChatStream(relay, call=call, record_unstarted=record_unstarted)


class ChatStream:
    """The chunk iterator of a gateway stream (`async for`, then `aclose()`).

    Guarantees the request's single UsageLog row however the consumer behaves: finished,
    failed, closed mid-way, cancelled, or dropped without ever being iterated.
    """

    def __init__(self, relay: AsyncIterator[ChatChunk], *, call: _Call, record_unstarted):
        self._relay = relay
        self._call = call
        self._record_unstarted = record_unstarted

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


async def _relay(
    call: _Call,
    request: ChatRequest,
    target: TargetInfo,
    index: int,
    events: AsyncIterator[ProviderStreamEvent],
    first: ProviderStreamEvent,
) -> AsyncIterator[ChatChunk]:
    content: list[str] = []
    tool_calls: dict[int, dict] = {}
    finish_reason: str | None = None
    usage: dict | None = None
    provider, physical = target.provider.name, target.physical_model

    def tokens() -> tuple[int, int]:
        if usage:
            return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        # No usage from upstream (or abandoned early): estimate from what was seen.
        seen = "".join(content) + "".join(
            c["function"]["name"] + c["function"]["arguments"] for c in tool_calls.values()
        )
        return _prompt_estimate(request.messages), count_tokens(seen)

    def finish(
        status: str, error: BaseException | None = None, *, wait: bool = True
    ) -> tuple[ChatResult, asyncio.Future | None]:
        prompt, completion = tokens()
        cost = _cost(target, prompt, completion)
        latency, committed = call.record(
            status=status,
            target=target,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost=cost,
            error=error,
            fallback_used=index > 0,
            wait=wait,
        )
        message: dict = {"role": "assistant", "content": "".join(content) or None}
        if tool_calls:
            message["tool_calls"] = [tool_calls[i] for i in sorted(tool_calls)]
        result = ChatResult(
            message=message,
            finish_reason=finish_reason or ("error" if error else "stop"),
            usage={
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
            cost_usd=cost,
            latency_ms=round(latency, 3),
            provider=provider,
            physical_model=physical,
            fallback_used=index > 0,
            attempts=[a.as_dict() for a in call.attempts],
            request_id=call.request_id,
            model=request.model,
        )
        return result, committed

    try:
        event: ProviderStreamEvent | None = first
        while event is not None:
            if event.usage:
                usage = event.usage
            if event.delta or event.finish_reason:
                delta = event.delta or {}
                if delta.get("content"):
                    content.append(delta["content"])
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
                )
            event = await anext(events, None)
        result, committed = finish(UsageStatus.OK)
        await usage_wait(committed)
        yield ChatChunk(
            request_id=call.request_id,
            model=request.model,
            delta={},
            provider=provider,
            physical_model=physical,
            final=result,
        )
    except errors.ProviderError as exc:
        breaker.record_failure(provider, exc.error_type)
        call.attempts[-1].detail = f"failed mid-stream: {exc.message}"
        _, committed = finish(UsageStatus.ERROR, exc)
        await usage_wait(committed)
        raise
    finally:
        if not call.recorded:  # the consumer went away (closed or cancelled) mid-stream
            finish(UsageStatus.ABANDONED, wait=False)
        await events.aclose()


async def chat_stream(request: ChatRequest) -> AsyncIterator[ChatChunk]:
    """Async generator form of open_chat_stream (errors surface on the first iteration)."""
    stream = await open_chat_stream(request)
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()


# --- embeddings --------------------------------------------------------------------------------
async def embed(
    *,
    model: str,
    texts: list[str],
    agent_id: str | None = None,
    microdao_id: str | None = None,
    request_id: str | None = None,
    input_type: str | None = None,
) -> EmbeddingResult:
    """Embed `texts` (batched upstream) with the embedding route `model`; one UsageLog row.

    `input_type` is "query" (a search query) or "passage" (a text to store; the default):
    models trained with roles, such as e5, encode the two differently; others ignore it.

    Embeddings are not counted against the agent's chat rate limit (memory indexing would
    exhaust it) but do count towards the microDAO budget.
    """
    call = _Call(
        kind=RouteKind.EMBEDDING,
        model=str(model or ""),
        request_id=request_id_or_new(request_id),
        agent_id=agent_id or "",
        microdao_id=microdao_id or "",
    )
    try:
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise errors.InvalidLlmRequest("'texts' must be a list of strings.")
        if not texts:
            raise errors.InvalidLlmRequest("'texts' must not be empty.")
        if input_type not in (None, "query", "passage"):
            raise errors.InvalidLlmRequest("'input_type' must be 'query' or 'passage'.")
        route = await _admit(
            call,
            model=model,
            kind=RouteKind.EMBEDDING,
            agent_id=agent_id,
            microdao_id=microdao_id,
            rate_limited=False,
        )
        batch = max(1, _setting("LLM_EMBED_BATCH_SIZE", 256))

        async def attempt(target: TargetInfo):
            adapter = adapter_for(target.provider.kind)
            vectors: list[list[float]] = []
            prompt_tokens = 0
            for start in range(0, len(texts), batch):
                part = await adapter.embed(
                    provider=target.provider,
                    model=target.physical_model,
                    texts=texts[start : start + batch],
                    dimensions=target.dimensions,
                    input_type=input_type,
                )
                vectors.extend(part.vectors)
                prompt_tokens += part.prompt_tokens
            return vectors, prompt_tokens

        target, index, (vectors, prompt_tokens) = await _try_targets(call, route, attempt)
    except BaseException as exc:
        await call.record_failure(exc)
        raise
    cost = _cost(target, prompt_tokens, 0)
    latency, committed = call.record(
        status=UsageStatus.OK,
        target=target,
        prompt_tokens=prompt_tokens,
        cost=cost,
        fallback_used=index > 0,
    )
    await usage_wait(committed)
    return EmbeddingResult(
        vectors=vectors,
        model=model,
        dimensions=len(vectors[0]) if vectors else (target.dimensions or 0),
        usage={"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        provider=target.provider.name,
        physical_model=target.physical_model,
        cost_usd=cost,
        latency_ms=round(latency, 3),
        request_id=call.request_id,
    )


def embedding_models() -> list[EmbeddingModelInfo]:
    """Logical embedding routes and their dimensions (sync; for admin choices and checks)."""
    registry = registry_get()
    return [
        EmbeddingModelInfo(name=route.name, dimensions=route.dimensions or 0)
        for route in sorted(registry.routes.values(), key=lambda r: r.name)
        if route.kind == RouteKind.EMBEDDING and route.targets
    ]
