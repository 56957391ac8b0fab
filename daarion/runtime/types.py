"""What one agent turn returns, and the events it reports while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(slots=True)
class ToolCallRecord:
    tool_id: str  # the registry's id (e.g. "projects.list")
    function_name: str  # the OpenAI-safe name the model used (e.g. "projects__list")
    args: dict[str, Any]
    ok: bool
    call_id: str | None
    latency_ms: float
    result: Any = None
    error: dict[str, str] | None = None


@dataclass(slots=True)
class TurnUsage:
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    providers: list[str] = field(default_factory=list)

    def add(self, usage: dict, cost_usd: Decimal, provider: str) -> None:
        self.llm_calls += 1
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        self.total_tokens += int(usage.get("total_tokens") or 0)
        self.cost_usd += cost_usd
        if provider not in self.providers:
            self.providers.append(provider)


@dataclass(slots=True)
class TurnResult:
    agent_id: str
    microdao_id: str
    channel_id: str | None
    reply: str
    model: str
    tool_calls: list[ToolCallRecord]
    memories_used: list[dict[str, Any]]
    usage: TurnUsage
    degraded: list[str]  # steps that failed and were skipped: "memory", "tools", "memory_store"
    stored_memory_ids: list[Any]
    request_id: str
    timing_ms: dict[str, float]


@dataclass(frozen=True, slots=True)
class TurnEvent:
    """Reported to an optional observer as the turn runs (the terminal chat prints these)."""

    kind: str  # "memories" | "tool_call" | "tool_result" | "degraded" | "reply"
    data: dict[str, Any]
