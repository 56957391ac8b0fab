"""The single entry point of the LLM gateway (the public facade).

Every request runs the same skeleton (`_serve`):

    admission (llm.gateway.admission: request shape, route, agent, rate limit, budget)
    → attempts (llm.gateway.attempts: breaker, retries with backoff, fallback)
    → accounting (llm.gateway.accounting: exactly one UsageLog row, cost, metrics)

`chat` and `embed` account when the answer is in; `open_chat_stream` hands the connected
stream to llm.gateway.streaming, which accounts when the stream ends.

Public: `chat`, `open_chat_stream` / `chat_stream`, `embed`, `embedding_models` and the result
types. Errors are llm.errors.* (daarion ApiErrors). Nothing here queries the registry per
request: routes, agents and budgets come from per-process caches invalidated by model signals.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from decimal import Decimal

from django.conf import settings

from daarion.common.request_context import request_id_or_new
from llm.gateway.accounting import account_durably, account_failure, chat_result
from llm.gateway.admission import (
    admit,
    chat_max_cost,
    chat_request_validate,
    embed_max_cost,
    embed_texts_validate,
)
from llm.gateway.attempts import AttemptFn, T, attempt_targets
from llm.gateway.call import Call
from llm.gateway.streaming import ChatStream, stream_connect
from llm.models import RouteKind, UsageStatus
from llm.providers import adapter_for, offline_tools
from llm.providers.base import ProviderChat
from llm.registry import RouteInfo, TargetInfo, registry_get
from llm.types import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingModelInfo,
    EmbeddingResult,
)

__all__ = [
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "ChatStream",
    "EmbeddingModelInfo",
    "EmbeddingResult",
    "chat",
    "chat_route_provider_kinds",
    "chat_stream",
    "embed",
    "embedding_models",
    "open_chat_stream",
]


async def _serve(
    call: Call,
    *,
    model: str,
    validate: Callable[[], None],
    rate_limited: bool,
    attempt: AttemptFn[T],
    estimate: Callable[[RouteInfo], Decimal] | None = None,
) -> T:
    """Validate and admit the request, then try the route's targets; the value of the attempt
    that succeeded. On any failure (cancellation included) the request's row is written."""
    try:
        validate()
        route = await admit(call, model=model, rate_limited=rate_limited, estimate=estimate)
        return await attempt_targets(call, route, attempt)
    except BaseException as exc:
        await account_failure(call, exc)
        raise


def _chat_call(request: ChatRequest, *, stream: bool) -> Call:
    return Call(
        kind=RouteKind.CHAT,
        model=str(request.model or ""),
        request_id=request_id_or_new(request.request_id),
        agent_id=request.agent_id or "",
        microdao_id=request.microdao_id or "",
        stream=stream,
    )


async def chat(request: ChatRequest) -> ChatResult:
    """One chat completion through the gateway. Raises llm.errors.* on failure."""
    call = _chat_call(request, stream=False)

    async def attempt(target: TargetInfo, api_key: str | None) -> ProviderChat:
        return await adapter_for(target.provider.kind).chat(
            provider=target.provider,
            api_key=api_key,
            model=target.physical_model,
            messages=request.messages,
            params=request.params,
        )

    reply = await _serve(
        call,
        model=request.model,
        validate=lambda: chat_request_validate(request),
        rate_limited=request.rate_limited,
        attempt=attempt,
        estimate=chat_max_cost(request),
    )
    accounted = await account_durably(
        call,
        status=UsageStatus.OK,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
    )
    return chat_result(
        call,
        message=reply.message,
        finish_reason=reply.finish_reason,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        accounted=accounted,
        extra=reply.extra,
    )


async def open_chat_stream(request: ChatRequest) -> ChatStream:
    """Admit the request and connect to a target; then return the chunk iterator.

    Errors before the first chunk (unknown model, limits, every target failing) are raised here,
    so an HTTP layer can still answer them with a status code. A failure after that ends the
    iterator with the ProviderError. The UsageLog row is written when the stream finishes,
    fails or is abandoned (closed/cancelled) — with the tokens seen so far.
    """
    call = _chat_call(request, stream=True)
    connected = await _serve(
        call,
        model=request.model,
        validate=lambda: chat_request_validate(request),
        rate_limited=True,
        attempt=lambda target, api_key: stream_connect(request, target, api_key),
        estimate=chat_max_cost(request),
    )
    return ChatStream(call, request, connected)


async def chat_stream(request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
    """Async generator form of open_chat_stream (errors surface on the first iteration)."""
    stream = await open_chat_stream(request)
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()


async def embed(
    *,
    model: str,
    texts: list[str] | list[list[int]],
    agent_id: str | None = None,
    microdao_id: str | None = None,
    request_id: str | None = None,
    dimensions: int | None = None,
    input_type: str | None = None,
) -> EmbeddingResult:
    """Embed `texts` (batched upstream) with the embedding route `model`; one UsageLog row.

    `texts` may be token arrays (OpenAI's input form; /v1 sends them only to routes whose
    providers accept tokens). `dimensions` is the caller's request: honoured or refused by the
    provider, never ignored. `input_type` is "query" (a search query) or "passage" (a text to
    store; the default): models trained with roles, such as e5, encode the two differently;
    others ignore it. Embeddings are not counted against the agent's chat rate limit (memory
    indexing would exhaust it) but do count towards the microDAO budget.
    """
    call = Call(
        kind=RouteKind.EMBEDDING,
        model=str(model or ""),
        request_id=request_id_or_new(request_id),
        agent_id=agent_id or "",
        microdao_id=microdao_id or "",
    )
    batch = max(1, getattr(settings, "LLM_EMBED_BATCH_SIZE", 256))

    async def attempt(target: TargetInfo, api_key: str | None) -> tuple[list[list[float]], int]:
        adapter = adapter_for(target.provider.kind)
        vectors: list[list[float]] = []
        prompt_tokens = 0
        for start in range(0, len(texts), batch):
            part = await adapter.embed(
                provider=target.provider,
                api_key=api_key,
                model=target.physical_model,
                texts=texts[start : start + batch],
                dimensions=target.dimensions,
                requested_dimensions=dimensions,
                input_type=input_type,
            )
            vectors.extend(part.vectors)
            prompt_tokens += part.prompt_tokens
        return vectors, prompt_tokens

    vectors, prompt_tokens = await _serve(
        call,
        model=model,
        validate=lambda: embed_texts_validate(texts, input_type),
        rate_limited=False,
        attempt=attempt,
        estimate=embed_max_cost(texts),
    )
    accounted = await account_durably(call, status=UsageStatus.OK, prompt_tokens=prompt_tokens)
    target = call.target
    assert target is not None  # set by the attempt that succeeded
    return EmbeddingResult(
        vectors=vectors,
        model=model,
        dimensions=len(vectors[0]) if vectors else (target.dimensions or 0),
        usage={"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        provider=target.provider.name,
        physical_model=target.physical_model,
        cost_usd=accounted.cost_usd,
        latency_ms=round(accounted.latency_ms, 3),
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


# The offline development provider chooses tools by meaning through this gateway's embedding
# routes (usage-logged like any call); providers sit below the gateway, so it is handed over here.
offline_tools.embedder_set(embed)


def chat_route_provider_kinds(model: str) -> tuple[str, ...] | None:
    """Provider kinds a chat route can reach (None: no enabled chat route of that name); for
    switches such as memory's "fact extraction is off while only offline is reachable"."""
    route = registry_get().routes.get(model)
    if route is None or route.kind != RouteKind.CHAT:
        return None
    return tuple(target.provider.kind for target in route.targets)
