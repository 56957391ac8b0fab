"""Request ids for logs and responses, and JSON (never HTML) errors under the API prefixes."""

from __future__ import annotations

import logging
import re
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from daarion.common.errors import api_error_response
from daarion.common.request_context import request_id_var

logger = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
API_PREFIXES = ("/internal/", "/v1/")
# The OpenAPI docs are staff pages (session login) that live under the API prefixes.
_API_DOC_PAGES = frozenset(
    f"{prefix}{page}" for prefix in API_PREFIXES for page in ("docs", "openapi.json")
)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) and path not in _API_DOC_PAGES


def is_api_request(request: HttpRequest) -> bool:
    """API requests skip the page middleware (daarion/server/page_middleware.py) and the
    per-request worker thread (daarion/server/asgi_handler.py)."""
    return is_api_path(request.path)


def request_id_from_header(incoming: str) -> str:
    """The caller's X-Request-ID when it is safe to log and echo, else a new id."""
    return incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _request_id_from(request: HttpRequest) -> str:
    return request_id_from_header(request.headers.get("X-Request-ID", ""))


class _AsyncCapable:
    """Base for middleware that runs natively under both ASGI and WSGI (no thread hops)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self._acall(request)
        return self._after(request, self.get_response(self._before(request)))

    async def _acall(self, request):
        return self._after(request, await self.get_response(self._before(request)))

    def _before(self, request: HttpRequest) -> HttpRequest:
        return request

    def _after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response


class RequestIdMiddleware(_AsyncCapable):
    def _before(self, request: HttpRequest) -> HttpRequest:
        request.request_id = _request_id_from(request)  # type: ignore[attr-defined]
        request_id_var.set(request.request_id)  # type: ignore[attr-defined]
        return request

    def _after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response.headers.setdefault("X-Request-ID", getattr(request, "request_id", "-"))
        return response


class JsonApiErrorsMiddleware(_AsyncCapable):
    """Turn any non-JSON error under /internal/ or /v1/ into a JSON error body.

    django-ninja answers its own errors in JSON; this covers what happens around it (405 from
    the router, Django's 404/500 pages, an error in any middleware below it) so an API client
    never parses HTML. It sits right under RequestIdMiddleware so it wraps everything else.
    """

    def _after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400 or not is_api_request(request):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        return api_error_response(
            response.status_code,
            _ERROR_TYPES.get(response.status_code, "error"),
            _ERROR_MESSAGES.get(response.status_code, response.reason_phrase),
            headers={k: v for k, v in response.headers.items() if k in ("Allow", "Retry-After")},
        )

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_api_request(request):
            return None
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return api_error_response(
            500,
            "internal_error",
            f"Internal error (request id {getattr(request, 'request_id', '-')}).",
        )


_ERROR_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "internal_error",
}
_ERROR_MESSAGES = {
    404: "No such endpoint.",
    405: "Method not allowed for this endpoint.",
    500: "Internal error.",
}
