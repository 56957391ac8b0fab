"""The Protocol every provider adapter implements, and the neutral shapes adapters return.

An adapter performs ONE attempt against one provider and raises llm.errors.Provider* on
failure; retries, fallback, limits, key rotation and usage are the gateway's job (the
gateway picks the key of each attempt and passes it as `api_key`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Protocol

from llm.types import ProviderInfo


@dataclass(slots=True)
class ProviderChat:
    message: dict  # OpenAI assistant message: role, content, tool_calls?
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    # OpenAI fields handed on as they came: "choices" (every choice, when n > 1 or with
    # logprobs), "system_fingerprint", "usage" (with its *_details). See llm.openai.
    extra: dict = field(default_factory=dict)


@dataclass(slots=True)
class ProviderStreamEvent:
    """A parsed stream chunk: a delta and/or a finish reason and/or the usage totals."""

    delta: dict | None = None
    finish_reason: str | None = None
    usage: dict | None = None
    index: int = 0  # the choice (n > 1)
    logprobs: dict | None = None
    system_fingerprint: str | None = None


@dataclass(slots=True)
class ProviderEmbeddings:
    vectors: list[list[float]]
    prompt_tokens: int
    extra: dict = field(default_factory=dict)


class LlmProvider(Protocol):
    async def chat(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        messages: list[dict],
        params: dict,
    ) -> ProviderChat: ...

    def chat_stream(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        messages: list[dict],
        params: dict,
    ) -> AsyncGenerator[ProviderStreamEvent, None]: ...

    async def embed(
        self,
        *,
        provider: ProviderInfo,
        api_key: str | None,
        model: str,
        texts: list[str] | list[list[int]],
        dimensions: int | None,
        requested_dimensions: int | None = None,
    ) -> ProviderEmbeddings:
        """`texts` are token arrays only for kinds in TOKEN_INPUT_KINDS; `requested_dimensions`
        is the caller's OpenAI `dimensions` (send it upstream or refuse, never ignore)."""
        ...
