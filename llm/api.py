"""HTTP routers of the LLM gateway: /internal/llm/* here, the OpenAI-compatible /v1/* in
llm.openai.router.

Thin: parse, pick the agent the caller may act as, call llm.gateway, shape the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import orjson
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Router

from llm import gateway
from llm.errors import ProviderError
from llm.openai.router import openai_router
from llm.schemas import ChatBody
from llm.types import ChatChunk, ChatRequest

internal_router = Router()
__all__ = ["internal_router", "openai_router"]  # /v1 lives in llm.openai

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
            **result.gateway_meta(),
        }
    )


async def _proxy_events(stream: AsyncIterator[ChatChunk]) -> AsyncIterator[bytes]:
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
                        **final.gateway_meta(),
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
