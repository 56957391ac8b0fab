"""One adapter for every OpenAI-compatible server: OpenAI, DeepSeek, Ollama's /v1, vLLM, …

Chat (plain and streaming), embeddings, tool calls and any other parameter are passed through.
HTTP goes through llm.providers.transport (pooled per event loop, base URL and timeout, so pools
stay warm across registry reloads). Provider errors map to llm.errors.Provider*; upstream error
text is redacted of keys before it is kept anywhere.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson

from llm import errors
from llm.providers import transport
from llm.providers.base import ProviderChat, ProviderEmbeddings, ProviderStreamEvent
from llm.types import ProviderInfo

_MAX_ERROR_TEXT = 300
# Our own fields that must never reach the upstream.
_NOT_PASSED = frozenset({"model", "messages", "stream", "metadata"})


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def redact(text: str, provider: ProviderInfo) -> str:
    for key in provider.keys:
        if key:
            text = text.replace(key, "***")
    return text[:_MAX_ERROR_TEXT]


def redact_body(body: bytes, provider: ProviderInfo) -> bytes:
    """A successful body with the provider's keys removed (an upstream may echo them)."""
    for key in provider.keys:
        if key and (raw := key.encode()) in body:
            body = body.replace(raw, b"***")
    return body


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from LLM APIs; treat as unknown


def _error_text(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace").strip()
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error)
        if error:
            return str(error)
    return str(data)


def status_error(provider: ProviderInfo, status: int, headers, body: bytes) -> errors.ProviderError:
    text = redact(_error_text(body), provider)
    name = provider.name
    if status in (401, 403):
        # The upstream's words may quote part of the key: keep only the status.
        return errors.ProviderAuthError(
            f"{name}: authentication failed (HTTP {status})", status_code=status
        )
    if status == 429:
        return errors.ProviderRateLimited(
            f"{name}: rate limited (HTTP 429): {text}",
            status_code=status,
            retry_after=_parse_retry_after(headers.get("retry-after")),
        )
    if status == 408:
        return errors.ProviderTimeout(f"{name}: upstream timeout (HTTP 408)", status_code=status)
    if status >= 500:
        return errors.ProviderUpstreamError(f"{name}: HTTP {status}: {text}", status_code=status)
    if status == 404:
        # Usually the physical model is unknown at this provider: a routing problem, so fall back.
        error = errors.ProviderUpstreamError(f"{name}: HTTP 404: {text}", status_code=status)
        error.retryable = False
        return error
    return errors.ProviderBadRequest(f"{name}: HTTP {status}: {text}", status_code=status)


def _body(model: str, messages: list[dict], params: dict, **extra: Any) -> bytes:
    body = {k: v for k, v in params.items() if k not in _NOT_PASSED}
    body["model"] = model
    body["messages"] = messages
    body.update(extra)
    return orjson.dumps(body)


def _usage_tokens(usage: Any) -> tuple[int, int]:
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


class OpenAICompatibleProvider:
    async def chat(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        messages: list[dict],
        params: dict,
    ) -> ProviderChat:
        reply = await transport.post(
            provider, "/chat/completions", _body(model, messages, params), _headers(api_key)
        )
        if reply.status != 200:
            raise status_error(provider, reply.status, reply.headers, reply.body)
        body = redact_body(reply.body, provider)
        try:
            data = orjson.loads(body)
            choice = data["choices"][0]
            message = dict(choice["message"])
            finish_reason = choice.get("finish_reason") or "stop"
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise errors.ProviderUpstreamError(
                f"{provider.name}: malformed response ({type(exc).__name__})"
            ) from None
        message.setdefault("role", "assistant")
        prompt_tokens, completion_tokens = _usage_tokens(data.get("usage"))
        return ProviderChat(
            message=message,
            finish_reason=finish_reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    async def chat_stream(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        messages: list[dict],
        params: dict,
    ) -> AsyncGenerator[ProviderStreamEvent, None]:
        stream_options = {**(params.get("stream_options") or {}), "include_usage": True}
        content = _body(model, messages, params, stream=True, stream_options=stream_options)
        headers = {**_headers(api_key), "Accept": "text/event-stream"}
        async with transport.stream(provider, "/chat/completions", content, headers) as reply:
            if reply.status != 200:
                raise status_error(provider, reply.status, reply.headers, await reply.read())
            finished = False
            async for line in reply.lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                for key in provider.keys:  # an upstream may echo the key in a chunk too
                    if key and key in payload:
                        payload = payload.replace(key, "***")
                if payload == "[DONE]":
                    finished = True
                    break
                try:
                    chunk = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    raise errors.ProviderUpstreamError(
                        f"{provider.name}: malformed stream chunk"
                    ) from None
                if not isinstance(chunk, dict):
                    continue
                if chunk.get("error"):
                    raise errors.ProviderUpstreamError(
                        f"{provider.name}: stream error: " + redact(str(chunk["error"]), provider)
                    )
                usage = chunk.get("usage")
                for choice in chunk.get("choices") or ():
                    yield ProviderStreamEvent(
                        delta=choice.get("delta") or None,
                        finish_reason=choice.get("finish_reason"),
                    )
                if usage:
                    yield ProviderStreamEvent(usage=usage)
            if not finished:
                raise errors.ProviderUpstreamError(f"{provider.name}: stream ended early")

    async def embed(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        texts: list[str],
        dimensions: int | None,
    ) -> ProviderEmbeddings:
        payload: dict[str, Any] = {"model": model, "input": texts}
        reply = await transport.post(
            provider, "/embeddings", orjson.dumps(payload), _headers(api_key)
        )
        if reply.status != 200:
            raise status_error(provider, reply.status, reply.headers, reply.body)
        body = reply.body
        try:
            data = orjson.loads(body)
            items = sorted(data["data"], key=lambda item: item.get("index", 0))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise errors.ProviderUpstreamError(
                f"{provider.name}: malformed embeddings response ({type(exc).__name__})"
            ) from None
        if len(vectors) != len(texts):
            raise errors.ProviderUpstreamError(
                f"{provider.name}: {len(vectors)} embeddings for {len(texts)} inputs"
            )
        if dimensions and any(len(v) != dimensions for v in vectors):
            raise errors.ProviderUpstreamError(
                f"{provider.name}: embeddings are not {dimensions}-dimensional as configured"
            )
        prompt_tokens, _ = _usage_tokens(data.get("usage"))
        return ProviderEmbeddings(vectors=vectors, prompt_tokens=prompt_tokens)
