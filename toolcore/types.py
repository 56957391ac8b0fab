"""Neutral dataclasses other apps see: what a tool call returns and the context a tool gets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ToolErrorType = Literal[
    "not_found", "permission_denied", "invalid_args", "timeout", "upstream_error", "disabled"
]

# How the /internal API answers each error type (see README, "Tools").
ERROR_STATUS: dict[str, int] = {
    "not_found": 404,
    "permission_denied": 404,  # a forbidden tool looks exactly like an unknown one
    "invalid_args": 422,
    "timeout": 504,
    "upstream_error": 502,
    "disabled": 409,
}


@dataclass(frozen=True, slots=True)
class ToolError:
    type: ToolErrorType
    message: str  # written for the LLM: says what to change, never internals or secrets
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, **self.details}


@dataclass(frozen=True, slots=True)
class ToolCallResult:
    ok: bool
    result: Any
    call_id: str
    latency_ms: float
    tool_id: str | None = None  # the canonical id of the tool called, when it resolved
    error: ToolError | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": self.ok,
            "result": self.result,
            "call_id": self.call_id,
            "latency_ms": self.latency_ms,
            "tool_id": self.tool_id,
        }
        if self.error is not None:
            body["error"] = self.error.as_dict()
        return body


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a Python tool knows about its caller."""

    agent_id: str
    microdao_id: str
    request_id: str | None
    call_id: str
