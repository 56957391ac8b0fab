"""OpenAI-shaped errors for /v1, and the usage row of a /v1 request refused before the gateway.

OpenAI clients read `error.message/type/param/code` and branch on the status (the openai SDK
maps 400 → BadRequestError, 429 → RateLimitError and retries after Retry-After). So on /v1:
schema errors are 400 (not 422), the upstream's own code/param/type (e.g.
`context_length_exceeded`) are kept, and our error type stays readable as `code`. /internal
keeps the platform shape (daarion's handlers); these handlers are installed on /v1 only.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError as DjangoOperationalError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from daarion.common.errors import ApiError
from daarion.common.request_context import request_id_or_new
from llm.errors import BudgetExceeded, ProviderError
from llm.models import RouteKind, UsageStatus
from llm.usage import UsageRow, usage_record

logger = logging.getLogger(__name__)

# Set on the request by llm.api just before it hands the request to llm.gateway, which then
# writes the request's one usage row itself.
GATEWAY_CALLED = "_llm_gateway_called"
_MAX_MODEL = 128


def _openai_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_error_response(
    status: int,
    message: str,
    *,
    type_: str | None = None,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    error = {
        "message": message,
        "type": type_ or _openai_type(status),
        "param": param,
        "code": code,
        **(extra or {}),
    }
    response = HttpResponse(
        orjson.dumps({"error": error}, default=str), status=status, content_type="application/json"
    )
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def database_unavailable_response() -> HttpResponse:
    # E.g. a token not in the cache yet while the database is down: a fast 503 the SDKs retry
    # after Retry-After, as on /internal — not a generic 500.
    return openai_error_response(
        503,
        "The database is temporarily unavailable. Retry shortly.",
        code="service_unavailable",
        headers={"Retry-After": "2"},
    )


def internal_error_response(request_id: str) -> HttpResponse:
    return openai_error_response(500, f"Internal error (request id {request_id}).")


def api_error_as_openai(exc: ApiError) -> HttpResponse:
    code, param, type_ = exc.error_type, getattr(exc, "param", None), None
    if isinstance(exc, ProviderError):
        code = exc.upstream_code or code
        param = exc.upstream_param or param
        type_ = exc.upstream_type
    if isinstance(exc, BudgetExceeded):
        type_ = "insufficient_quota"
    return openai_error_response(
        exc.status_code,
        exc.message,
        type_=type_,
        code=code,
        param=param,
        headers=exc.headers,
        extra=exc.details,
    )


def _param_of(loc: tuple) -> str | None:
    parts = [p for p in loc if p not in ("body", "payload")]
    if not parts:
        return None
    text = str(parts[0])
    for part in parts[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validation_error_as_openai(exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    described = [
        f"{_param_of(tuple(e.get('loc', ()))) or 'body'}: {e.get('msg', 'invalid')}"
        for e in exc.errors
    ]
    code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
    return openai_error_response(
        400,
        "Invalid request: " + ("; ".join(described) or "the body does not parse."),
        code=code,
        param=_param_of(tuple(first.get("loc", ()))),
    )


def _kind_of(path: str) -> str:
    return RouteKind.EMBEDDING if path.rstrip("/").endswith("/embeddings") else RouteKind.CHAT


def rejected_usage_record(request: HttpRequest, *, status: int, error_type: str, message: str):
    """Queue the usage row of a /v1 call refused before it reached the gateway (schema errors,
    a forbidden agent…): the SPEC's "every request leaves one row". Unauthenticated calls
    leave none (anyone could fill the table)."""
    if request.method != "POST" or getattr(request, GATEWAY_CALLED, False):
        return
    caller = getattr(request, "auth", None)
    if caller is None:
        return
    try:
        body = orjson.loads(request.body or b"{}")
    except (orjson.JSONDecodeError, ValueError):
        body = {}
    body = body if isinstance(body, dict) else {}
    model = body.get("model")
    started = getattr(request, "_llm_started", None)
    usage_record(
        UsageRow(
            created_at=timezone.now(),
            request_id=request_id_or_new(getattr(request, "request_id", None)),
            kind=_kind_of(request.path),
            agent_id=(getattr(caller, "agent_id", None) or "")[:64],
            microdao_id="",
            model=(model if isinstance(model, str) else "")[:_MAX_MODEL],
            provider="",
            physical_model="",
            latency_ms=round((time.perf_counter() - started) * 1000, 3) if started else 0.0,
            status=UsageStatus.ERROR,
            error_type=error_type[:64],
            error_message=f"HTTP {status}: {message}"[:500],
            stream=bool(body.get("stream")),
        )
    )


def install_openai_error_handlers(api: NinjaAPI) -> None:
    """The /v1 API's error handlers (the OpenAI error shape; rejected calls get a usage row)."""

    def respond(request: HttpRequest, response: HttpResponse, error_type: str) -> HttpResponse:
        message = orjson.loads(response.content)["error"]["message"]
        rejected_usage_record(
            request, status=response.status_code, error_type=error_type, message=message
        )
        return response

    @api.exception_handler(ApiError)
    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return respond(request, api_error_as_openai(exc), exc.error_type)

    @api.exception_handler(ValidationError)
    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return respond(request, validation_error_as_openai(exc), "invalid_request")

    @api.exception_handler(AuthenticationError)
    def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return openai_error_response(
            401,
            "Missing or invalid credentials: send 'Authorization: Bearer <service token>'.",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        response = openai_error_response(exc.status_code, str(exc.message))
        return respond(request, response, "invalid_request")

    @api.exception_handler(DjangoOperationalError)
    @api.exception_handler(DjangoInterfaceError)
    def on_database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.error("database unavailable in %s %s: %s", request.method, request.path, exc)
        return respond(request, database_unavailable_response(), "service_unavailable")

    @api.exception_handler(Exception)
    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        response = internal_error_response(getattr(request, "request_id", "-"))
        return respond(request, response, "internal_error")
