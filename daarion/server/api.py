"""The two JSON APIs: /internal (seed-compatible) and /v1 (OpenAI-compatible).

Each app contributes routers; this module adds auth per router (scope), one error format, and
docs for staff only. Apps never import this module.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import orjson
from django.contrib.admin.views.decorators import staff_member_required
from django.db import InterfaceError as DjangoInterfaceError
from django.db import OperationalError as DjangoOperationalError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.renderers import BaseRenderer

from daarion.common.errors import ApiError, api_error_response
from daarion.runtime.api import router as runtime_router
from daarion.server.auth import ServiceAuth
from llm.api import internal_router as llm_router
from llm.api import openai_router
from llm.openai.errors import install_openai_error_handlers
from memory.api import router as memory_router
from toolcore.api import router as tools_router

logger = logging.getLogger(__name__)


def _orjson_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> bytes:
        return orjson.dumps(data, default=_orjson_default)


def _describe_validation_errors(errors: list[dict]) -> list[dict]:
    described = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
        described.append({"loc": ".".join(loc) or "body", "msg": error.get("msg", "invalid")})
    return described


def _install_error_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(ApiError)
    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return api_error_response(
            exc.status_code, exc.error_type, exc.message, headers=exc.headers, **exc.details
        )

    @api.exception_handler(ValidationError)
    def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        errors = _describe_validation_errors(exc.errors)
        message = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors) or "Invalid request."
        return api_error_response(422, "invalid_request", message, errors=errors)

    @api.exception_handler(AuthenticationError)
    def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return api_error_response(
            401,
            "unauthorized",
            "Missing or invalid credentials: send X-Internal-Secret or "
            "'Authorization: Bearer <service token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        error_type = {400: "invalid_request", 403: "permission_denied", 404: "not_found"}
        return api_error_response(
            exc.status_code, error_type.get(exc.status_code, "error"), str(exc.message)
        )

    @api.exception_handler(DjangoOperationalError)
    @api.exception_handler(DjangoInterfaceError)
    def on_database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
        # The database is unreachable (outage, restart, pool exhausted): tell the caller to come
        # back shortly instead of a generic 500 after long timeouts.
        logger.error("database unavailable in %s %s: %s", request.method, request.path, exc)
        return api_error_response(
            503,
            "service_unavailable",
            "The database is temporarily unavailable. Retry shortly.",
            headers={"Retry-After": "2"},
        )

    @api.exception_handler(Exception)
    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return api_error_response(
            500,
            "internal_error",
            f"Internal error (request id {getattr(request, 'request_id', '-')}).",
        )


internal_api = NinjaAPI(
    title="DAARION internal API",
    version="1.0",
    urls_namespace="internal",
    renderer=ORJSONRenderer(),
    docs_decorator=staff_member_required,
)
internal_api.add_router("/llm", llm_router, auth=ServiceAuth("llm"), tags=["llm"])
internal_api.add_router("/agent-memory", memory_router, auth=ServiceAuth("memory"), tags=["memory"])
internal_api.add_router("/tools", tools_router, auth=ServiceAuth("tools"), tags=["tools"])
internal_api.add_router("/agents", runtime_router, auth=ServiceAuth("agents"), tags=["agents"])
_install_error_handlers(internal_api)

openai_api = NinjaAPI(
    title="DAARION OpenAI-compatible API",
    version="1.0",
    urls_namespace="v1",
    renderer=ORJSONRenderer(),
    docs_decorator=staff_member_required,
)
openai_api.add_router("", openai_router, auth=ServiceAuth("llm"), tags=["openai"])
install_openai_error_handlers(openai_api)  # OpenAI's error shape; 400 for invalid requests
