"""Neutral dataclasses: the gateway's requests and results (what other apps code against) and
the read-only provider description the adapters receive."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[dict]
    agent_id: str | None = None
    microdao_id: str | None = None
    # temperature, max_tokens, tools, tool_choice and any other OpenAI parameter (passed through)
    params: dict = field(default_factory=dict)
    request_id: str | None = None
    # Count against the agent's rate limit (internal callers only; not settable over HTTP).
    # Background work (fact extraction) is exempt, like embeddings; budgets still apply.
    rate_limited: bool = True


@dataclass(slots=True)
class Attempt:
    """One try against one target (or a target skipped by the circuit breaker)."""

    provider: str
    physical_model: str
    outcome: str  # "ok", "skipped", or the error type (timeout, connection_error, ...)
    detail: str = ""
    status_code: int | None = None
    latency_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = {
            "provider": self.provider,
            "physical_model": self.physical_model,
            "outcome": self.outcome,
            "latency_ms": round(self.latency_ms, 2),
        }
        if self.detail:
            data["detail"] = self.detail
        if self.status_code is not None:
            data["status_code"] = self.status_code
        return data


@dataclass(slots=True)
class ChatResult:
    message: dict  # {"role": "assistant", "content": ..., "tool_calls": [...]} (OpenAI shape)
    finish_reason: str
    usage: dict  # {"prompt_tokens", "completion_tokens", "total_tokens"}
    cost_usd: Decimal
    latency_ms: float
    provider: str
    physical_model: str
    fallback_used: bool
    attempts: list[dict]
    request_id: str
    model: str = ""  # the logical model requested
    # OpenAI fields handed on to /v1 as the provider sent them: "choices" (n > 1, logprobs),
    # "system_fingerprint", "usage" (with prompt/completion token details)
    extra: dict = field(default_factory=dict)

    def gateway_meta(self) -> dict:
        """What the gateway adds to an answer (`gateway` on /internal, `daarion` on /v1)."""
        return {
            "request_id": self.request_id,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "provider": self.provider,
            "physical_model": self.physical_model,
            "fallback_used": self.fallback_used,
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class ChatChunk:
    """One streamed piece. `delta` is an OpenAI chat-completion-chunk delta
    ({"role"?, "content"?, "tool_calls"?}); the last chunk of a stream has `final` set."""

    request_id: str
    model: str
    delta: dict
    finish_reason: str | None = None
    provider: str = ""
    physical_model: str = ""
    final: ChatResult | None = None
    index: int = 0  # the choice this delta belongs to (n > 1)
    logprobs: dict | None = None
    system_fingerprint: str | None = None


@dataclass(slots=True)
class EmbeddingResult:
    vectors: list[list[float]]
    model: str  # the logical model requested
    dimensions: int
    usage: dict  # {"prompt_tokens", "total_tokens"}
    provider: str
    physical_model: str = ""
    cost_usd: Decimal = Decimal(0)
    latency_ms: float = 0.0
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class EmbeddingModelInfo:
    name: str
    dimensions: int


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider as the adapters see it: where to connect and with which keys (read-only)."""

    id: int
    name: str
    kind: str
    base_url: str
    timeout_seconds: float
    enabled: bool
    keys: tuple[str, ...] = field(repr=False)  # decrypted, active keys only; never logged
    key_ids: tuple[int, ...] = ()  # ProviderKey ids, parallel to `keys`

    _rotation: itertools.count = field(default_factory=itertools.count, repr=False, compare=False)

    def next_key(self) -> tuple[str | None, int | None]:
        """(secret, ProviderKey id) of the next key, round-robin (spreads provider-side per-key
        limits); (None, None) without keys. Pure: noting the use is the caller's job."""
        if not self.keys:
            return None, None
        index = next(self._rotation) % len(self.keys)
        return self.keys[index], (self.key_ids[index] if self.key_ids else None)
