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
# Our own fields that must never reach the upstream. (`metadata` is OpenAI's own parameter:
# /v1 puts only the caller's OpenAI metadata into params, never our agent/microDAO keys.)
_NOT_PASSED = frozenset({"model", "messages", "stream"})


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


def _error_text(body: bytes) -> tuple[str, dict]:
    """The upstream's error message, and its OpenAI error object (code, param, type) if any."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace").strip(), {}
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error), error
        if error:
            return str(error), {}
    return str(data), {}


def _keep_openai_fields(error: errors.ProviderError, fields: dict, provider: ProviderInfo) -> None:
    for name in ("code", "param", "type"):
        value = fields.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            setattr(error, f"upstream_{name}", redact(str(value), provider)[:128])


def status_error(provider: ProviderInfo, status: int, headers, body: bytes) -> errors.ProviderError:
    raw_text, fields = _error_text(body)
    text = redact(raw_text, provider)
    name = provider.name
    if status in (401, 403):
        # The upstream's words may quote part of the key: keep only the status.
        return errors.ProviderAuthError(
            f"{name}: authentication failed (HTTP {status})", status_code=status
        )
    if status == 429:
        error = errors.ProviderRateLimited(
            f"{name}: rate limited (HTTP 429): {text}",
            status_code=status,
            retry_after=_parse_retry_after(headers.get("retry-after")),
        )
        _keep_openai_fields(error, fields, provider)
        return error
    if status == 408:
        return errors.ProviderTimeout(f"{name}: upstream timeout (HTTP 408)", status_code=status)
    if status >= 500:
        return errors.ProviderUpstreamError(f"{name}: HTTP {status}: {text}", status_code=status)
    if status == 404:
        # Usually the physical model is unknown at this provider: a routing problem, so fall back.
        not_found = errors.ProviderUpstreamError(f"{name}: HTTP 404: {text}", status_code=status)
        not_found.retryable = False
        return not_found
    error = errors.ProviderBadRequest(f"{name}: HTTP {status}: {text}", status_code=status)  # type: ignore[assignment]
    _keep_openai_fields(error, fields, provider)
    return error


def _body(model: str, messages: list[dict], params: dict, **extra: Any) -> bytes:
    body = {k: v for k, v in params.items() if k not in _NOT_PASSED}
    body["model"] = model
    body["messages"] = messages
    body.update(extra)
    return orjson.dumps(body)


def _chat_extra(data: dict) -> dict:
    extra: dict = {}
    choices = data.get("choices")
    if isinstance(choices, list) and (
        len(choices) > 1 or any(isinstance(c, dict) and c.get("logprobs") for c in choices)
    ):
        extra["choices"] = choices
    if data.get("system_fingerprint"):
        extra["system_fingerprint"] = data["system_fingerprint"]
    if isinstance(data.get("usage"), dict):
        extra["usage"] = data["usage"]
    return extra


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
            extra=_chat_extra(data),
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
                fingerprint = chunk.get("system_fingerprint")
                for choice in chunk.get("choices") or ():
                    yield ProviderStreamEvent(
                        delta=choice.get("delta") or None,
                        finish_reason=choice.get("finish_reason"),
                        index=choice.get("index") or 0,
                        logprobs=choice.get("logprobs") or None,
                        system_fingerprint=fingerprint,
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
        texts: list[str] | list[list[int]],
        dimensions: int | None,
        requested_dimensions: int | None = None,
        input_type: str | None = None,  # ignored: the same vector serves queries and passages
    ) -> ProviderEmbeddings:
        payload: dict[str, Any] = {"model": model, "input": texts}
        if requested_dimensions:
            # The provider honours it or answers 400 itself (e.g. text-embedding-ada-002).
            payload["dimensions"] = requested_dimensions
            dimensions = requested_dimensions
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
