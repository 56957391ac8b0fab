"""The exception executors raise; services turn it into a ToolError (never into a 500)."""

from __future__ import annotations

from typing import Any

from toolcore.types import ToolError, ToolErrorType


class ToolCallFailed(Exception):
    def __init__(
        self,
        error_type: ToolErrorType,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        http_status: int | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.error_type: ToolErrorType = error_type
        self.message = message
        self.details = details or {}
        self.http_status = http_status
        self.attempts = attempts

    def as_tool_error(self) -> ToolError:
        return ToolError(type=self.error_type, message=self.message, details=self.details)
