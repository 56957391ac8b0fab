"""HTTP routers of the LLM gateway: /internal/llm/* and the OpenAI-compatible /v1/*.

Thin: parse, pick the agent the caller may act as, call llm.gateway, shape the answer.
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import AsyncGenerator
from decimal import Decimal

import orjson
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from llm import gateway
from llm.errors import ProviderError
from llm.gateway import ChatStream
from llm.models import RouteKind
from llm.registry import registry_aget
from llm.schemas import ChatBody, EmbeddingsBody
from llm.types import ChatRequest, ChatResult

internal_router = Router()
openai_router = Router()

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _json(data: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(data, default=_default), status=status, content_type="application/json"
    )


def _default(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


def _sse(data: dict | str) -> bytes:
    payload = data if isinstance(data, str) else orjson.dumps(data, default=_default).decode()
    return f"data: {payload}\n\n".encode()


def _chat_request(request: HttpRequest, body: ChatBody) -> ChatRequest:
    metadata = body.metadata or None
    requested_agent = (metadata.agent_id if metadata else None) or None
    caller = request.auth
    agent_id = caller.effective_agent_id(requested_agent)
    return ChatRequest(
        model=body.model,
        messages=body.message_dicts(),
        agent_id=agent_id,
        microdao_id=metadata.microdao_id if metadata else None,
        params=body.passthrough_params(),
        request_id=getattr(request, "request_id", None),
    )


def _gateway_meta(result: ChatResult) -> dict:
    return {
        "request_id": result.request_id,
        "cost_usd": result.cost_usd,
        "latency_ms": result.latency_ms,
        "provider": result.provider,
        "physical_model": result.physical_model,
        "fallback_used": result.fallback_used,
        "attempts": result.attempts,
    }


def _error_event(exc: ProviderError) -> bytes:
    return _sse({"error": {"type": exc.error_type, "message": exc.message}})


# --- /internal/llm/proxy (the old llm-proxy contract) ------------------------------------------
@internal_router.post("/proxy", summary="Chat through the gateway (seed-compatible)")
async def proxy(request: HttpRequest, body: ChatBody):
    chat_request = _chat_request(request, body)
    if body.stream:
        stream = await gateway.open_chat_stream(chat_request)
        return StreamingHttpResponse(
            _proxy_events(stream), content_type="text/event-stream", headers=_SSE_HEADERS
        )
    result = await gateway.chat(chat_request)
    return _json(
        {
            "id": result.request_id,
            "model": result.model,
            "message": result.message,
            "content": result.message.get("content"),
            "tool_calls": result.message.get("tool_calls") or [],
            "finish_reason": result.finish_reason,
            "usage": result.usage,
            **_gateway_meta(result),
        }
    )


async def _proxy_events(stream: ChatStream) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in stream:
            if chunk.final is not None:
                final = chunk.final
                yield _sse(
                    {
                        "done": True,
                        "message": final.message,
                        "finish_reason": final.finish_reason,
                        "usage": final.usage,
                        **_gateway_meta(final),
                    }
                )
            else:
                yield _sse(
                    {
                        "id": chunk.request_id,
                        "delta": chunk.delta,
                        "finish_reason": chunk.finish_reason,
                        "provider": chunk.provider,
                    }
                )
        yield _sse("[DONE]")
    except ProviderError as exc:
        yield _error_event(exc)
    finally:
        await stream.aclose()


# --- /v1 (OpenAI-compatible) -------------------------------------------------------------------
def _openai_agent(request: HttpRequest, metadata, user: str | None) -> str | None:
    requested = (metadata.agent_id if metadata else None) or None
    if requested is None and user and user.startswith("agent:"):
        requested = user
    return request.auth.effective_agent_id(requested)


@openai_router.post("/chat/completions", summary="OpenAI chat completions")
async def chat_completions(request: HttpRequest, body: ChatBody):
    chat_request = _chat_request(request, body)
    chat_request.agent_id = _openai_agent(request, body.metadata, body.user)
    created = int(time.time())
    if body.stream:
        include_usage = bool((chat_request.params.get("stream_options") or {}).get("include_usage"))
        stream = await gateway.open_chat_stream(chat_request)
        return StreamingHttpResponse(
            _openai_events(stream, created=created, include_usage=include_usage),
            content_type="text/event-stream",
            headers=_SSE_HEADERS,
        )
    result = await gateway.chat(chat_request)
    message = dict(result.message)
    message.setdefault("content", None)
    return _json(
        {
            "id": f"chatcmpl-{result.request_id}",
            "object": "chat.completion",
            "created": created,
            "model": result.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": result.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": result.usage,
            "daarion": _gateway_meta(result),
        }
    )


async def _openai_events(
    stream: ChatStream, *, created: int, include_usage: bool
) -> AsyncGenerator[bytes, None]:
    try:
        async for chunk in stream:
            base = {
                "id": f"chatcmpl-{chunk.request_id}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": chunk.model,
            }
            if chunk.final is not None:
                if include_usage:
                    yield _sse({**base, "choices": [], "usage": chunk.final.usage})
                continue
            yield _sse(
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": chunk.delta, "finish_reason": chunk.finish_reason}
                    ],
                }
            )
        yield _sse("[DONE]")
    except ProviderError as exc:
        yield _error_event(exc)
    finally:
        await stream.aclose()


def _encode_vector(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":  # what the openai SDK asks for by default: little-endian float32
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


@openai_router.post("/embeddings", summary="OpenAI embeddings")
async def embeddings(request: HttpRequest, body: EmbeddingsBody):
    texts = [body.input] if isinstance(body.input, str) else body.input
    metadata = body.metadata
    result = await gateway.embed(
        model=body.model,
        texts=texts,
        agent_id=_openai_agent(request, metadata, body.user),
        microdao_id=metadata.microdao_id if metadata else None,
        request_id=getattr(request, "request_id", None),
    )
    return _json(
        {
            "object": "list",
            "data": [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": _encode_vector(vector, body.encoding_format),
                }
                for i, vector in enumerate(result.vectors)
            ],
            "model": result.model,
            "usage": result.usage,
        }
    )


@openai_router.get("/models", summary="Logical models (chat and embedding routes)")
async def models(request: HttpRequest):
    registry = await registry_aget()
    return _json(
        {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "daarion",
                    "kind": route.kind,
                    **(
                        {"dimensions": route.dimensions}
                        if route.kind == RouteKind.EMBEDDING
                        else {}
                    ),
                }
                for name, route in sorted(registry.routes.items())
            ],
        }
    )
