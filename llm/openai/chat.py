"""/v1/chat/completions: the gateway's ChatResult/ChatChunk in OpenAI's chat.completion shape.

Everything the provider said that OpenAI clients read is handed on: every choice (n > 1, with
its index, streaming too), logprobs, `system_fingerprint`, usage details (cached and reasoning
tokens) and `reasoning_content`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from django.http import HttpResponse, StreamingHttpResponse

from daarion.agents.types import Caller
from daarion.common.errors import BadRequest
from llm import gateway
from llm.errors import ProviderError
from llm.openai.wire import SSE_HEADERS, json_response, sse
from llm.schemas import ChatBody, RequestMetadata
from llm.types import ChatChunk, ChatRequest, ChatResult

_USAGE_DETAILS = ("prompt_tokens_details", "completion_tokens_details")
_MAX_N = 16


class OpenAIRequestError(BadRequest):
    """A 400 naming the OpenAI parameter at fault (`param`) and an OpenAI-style `code`."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_value"):
        super().__init__(message)
        self.param = param
        self.error_type = code


def openai_agent(caller: Caller, metadata: RequestMetadata | None, user: str | None):
    """The agent a /v1 call acts as: the token's bound agent, `metadata.agent_id`, or `user`."""
    requested = (metadata.agent_id if metadata else None) or None
    if requested is None and user and user.startswith("agent:"):
        requested = user
    return caller.effective_agent_id(requested)


def openai_metadata(metadata: RequestMetadata | None) -> dict | None:
    """OpenAI's own `metadata` (everything but our agent/microDAO keys), to pass upstream."""
    extra = dict(metadata.model_extra or {}) if metadata else {}
    return extra or None


def _check_n(params: dict) -> None:
    """Refuse an `n` outside 1..16; drop n=1 (the default) so it is not sent upstream."""
    n = params.get("n")
    if n is None:
        return
    if type(n) is not int or not 1 <= n <= _MAX_N:
        raise OpenAIRequestError(f"'n' must be an integer from 1 to {_MAX_N}.", param="n")
    if n == 1:
        params.pop("n")


def chat_request_of(caller: Caller, request_id: str | None, body: ChatBody) -> ChatRequest:
    """The gateway request of a /v1/chat/completions body, for `caller` (the request's auth)."""
    metadata = body.metadata
    params = body.passthrough_params()
    _check_n(params)
    forwarded = openai_metadata(metadata)
    if forwarded:
        params["metadata"] = forwarded
    return ChatRequest(
        model=body.model,
        messages=body.message_dicts(),
        agent_id=openai_agent(caller, metadata, body.user),
        microdao_id=metadata.microdao_id if metadata else None,
        params=params,
        request_id=request_id,
    )


async def chat_completion_response(
    chat_request: ChatRequest, *, stream: bool
) -> HttpResponse | StreamingHttpResponse:
    """The gateway's answer as /v1/chat/completions sends it: JSON, or SSE when streamed."""
    created = int(time.time())
    if stream:
        options = chat_request.params.get("stream_options") or {}
        chunks = await gateway.open_chat_stream(chat_request)
        return StreamingHttpResponse(
            completion_events(
                chunks, created=created, include_usage=bool(options.get("include_usage"))
            ),
            content_type="text/event-stream",
            headers=SSE_HEADERS,
        )
    result = await gateway.chat(chat_request)
    return json_response(completion_body(result, created=created))


def openai_usage(result: ChatResult) -> dict:
    usage = dict(result.usage)
    upstream = result.extra.get("usage") or {}
    for key in _USAGE_DETAILS:
        if upstream.get(key):
            usage[key] = upstream[key]
    return usage


def _choices(result: ChatResult) -> list[dict]:
    choices = result.extra.get("choices")
    if choices:
        shaped = []
        for position, choice in enumerate(choices):
            message = dict(choice.get("message") or {})
            message.setdefault("role", "assistant")
            message.setdefault("content", None)
            shaped.append(
                {
                    "index": choice.get("index", position),
                    "message": message,
                    "finish_reason": choice.get("finish_reason") or "stop",
                    "logprobs": choice.get("logprobs"),
                }
            )
        return shaped
    message = dict(result.message)
    message.setdefault("content", None)
    return [
        {"index": 0, "message": message, "finish_reason": result.finish_reason, "logprobs": None}
    ]


def completion_body(result: ChatResult, *, created: int) -> dict:
    return {
        "id": f"chatcmpl-{result.request_id}",
        "object": "chat.completion",
        "created": created,
        "model": result.model,
        "choices": _choices(result),
        "usage": openai_usage(result),
        "system_fingerprint": result.extra.get("system_fingerprint"),
        "daarion": result.gateway_meta(),
    }


async def completion_events(
    stream: AsyncIterator[ChatChunk], *, created: int, include_usage: bool
) -> AsyncIterator[bytes]:
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
                    fingerprint = chunk.final.extra.get("system_fingerprint")
                    yield sse(
                        {
                            **base,
                            "system_fingerprint": fingerprint,
                            "choices": [],
                            "usage": openai_usage(chunk.final),
                        }
                    )
                continue
            choice = {
                "index": chunk.index,
                "delta": chunk.delta,
                "finish_reason": chunk.finish_reason,
            }
            if chunk.logprobs is not None:
                choice["logprobs"] = chunk.logprobs
            if chunk.system_fingerprint:
                base["system_fingerprint"] = chunk.system_fingerprint
            yield sse({**base, "choices": [choice]})
        yield sse("[DONE]")
    except ProviderError as exc:
        yield sse({"error": stream_error(exc)})
    finally:
        await stream.aclose()


def stream_error(exc: ProviderError) -> dict:
    """An error met mid-stream, as an OpenAI error object (the status line is already sent)."""
    return {
        "message": exc.message,
        "type": exc.upstream_type or "server_error",
        "param": exc.upstream_param,
        "code": exc.upstream_code or exc.error_type,
    }
