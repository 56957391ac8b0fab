"""One error tree for everything the API answers with a 4xx/5xx.

Services raise these; daarion.server.api turns them into `{"error": {"type", "message", ...}}` JSON
(the OpenAI error shape, so /v1 clients parse it too). Messages must never contain secrets.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from django.http import HttpResponse


class ApiError(Exception):
    status_code = 400
    error_type = "invalid_request"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def payload(self) -> dict[str, Any]:
        return {"error": {"type": self.error_type, "message": self.message, **self.details}}


class BadRequest(ApiError):
    status_code = 400
    error_type = "invalid_request"


class Unauthorized(ApiError):
    status_code = 401
    error_type = "unauthorized"


class PermissionDenied(ApiError):
    status_code = 403
    error_type = "permission_denied"


class NotFound(ApiError):
    status_code = 404
    error_type = "not_found"


class Conflict(ApiError):
    status_code = 409
    error_type = "conflict"


class PayloadTooLarge(ApiError):
    status_code = 413
    error_type = "payload_too_large"


class Unprocessable(ApiError):
    status_code = 422
    error_type = "invalid_args"


class RateLimited(ApiError):
    status_code = 429
    error_type = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers.setdefault("Retry-After", str(max(1, int(retry_after + 0.999))))


class UpstreamError(ApiError):
    status_code = 502
    error_type = "upstream_error"


class ServiceUnavailable(ApiError):
    status_code = 503
    error_type = "service_unavailable"


class GatewayTimeout(ApiError):
    status_code = 504
    error_type = "timeout"


def api_error_response(
    status: int, error_type: str, message: str, *, headers: dict[str, str] | None = None, **extra
) -> HttpResponse:
    """The platform's JSON error body `{"error": {"type", "message", ...}}` as a response."""
    error = {"error": {"type": error_type, "message": message, **extra}}
    try:
        body = orjson.dumps(error)
    except TypeError:  # a lone surrogate quoted from the input: escape rather than fail
        body = json.dumps(error, default=str).encode()
    response = HttpResponse(body, status=status, content_type="application/json")
    for key, value in (headers or {}).items():
        response[key] = value
    return response
