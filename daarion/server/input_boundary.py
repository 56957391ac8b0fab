"""The API input boundary: every /internal and /v1 request is checked here before any view,
parser or service sees it.

Refused with a JSON 4xx naming what is wrong (and the field path where there is one):
- a body larger than the limit (413), whether Content-Length says so or the body turns out so;
- multipart without a boundary, a body that is not UTF-8 JSON where JSON is parsed (400);
- JSON nested deeper than MAX_JSON_DEPTH, or a NUL character / lone UTF-16 surrogate in any key
  or string of the JSON body, a form field, the path, a query parameter or a DAARION header (422).
The rules themselves live in daarion.common.input_rules (shared with admin forms and import).
"""

from __future__ import annotations

import json

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError

from daarion.common.errors import api_error_response
from daarion.common.input_rules import json_problem, text_problem
from daarion.server.middleware import _AsyncCapable, is_api_request

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _too_large(limit: int) -> HttpResponse:
    return api_error_response(
        413, "payload_too_large", f"The request body is larger than {limit} bytes.", limit=limit
    )


def _invalid(status: int, loc: str, what: str) -> HttpResponse:
    error_type = "invalid_request" if status == 400 else "invalid_input"
    # The path may itself hold the bad character: show it escaped (a surrogate cannot be
    # encoded in the answer, a NUL would be invisible).
    loc = loc.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")
    return api_error_response(status, error_type, f"{loc}: {what}.", loc=loc)


def _body_limit(content_type: str) -> int:
    if content_type == "multipart/form-data":
        return settings.API_MAX_UPLOAD_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _check_params(request: HttpRequest) -> HttpResponse | None:
    problem = text_problem(request.path)
    if problem:
        return _invalid(422, "path", problem)
    for key, values in request.GET.lists():
        for loc, value in ((f"query.{key}", key), *((f"query.{key}", v) for v in values)):
            problem = text_problem(value)
            if problem:
                return _invalid(422, loc, problem)
    for name, value in request.headers.items():
        if name.lower().startswith("x-daarion-"):
            problem = text_problem(value)
            if problem:
                return _invalid(422, f"header.{name}", problem)
    return None


def _check_json(body: bytes) -> HttpResponse | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogates outright; the stdlib decodes them so the path can be
        # named, and tells malformed JSON apart.
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return _invalid(400, "body", f"is not valid UTF-8 JSON ({exc})")
    problem = json_problem(data)
    if problem:
        return _invalid(422, *problem)
    return None


def _check_form(request: HttpRequest) -> HttpResponse | None:
    try:
        fields = request.POST
    except RequestDataTooBig:
        return _too_large(_body_limit(request.content_type or ""))
    except (MultiPartParserError, TooManyFieldsSent, ValueError) as exc:
        return _invalid(400, "body", f"is not a valid form ({exc})")
    for key, values in fields.lists():
        for value in (key, *values):
            problem = text_problem(value)
            if problem:
                return _invalid(422, f"form.{key}", problem)
    return None


def input_problem(request: HttpRequest) -> HttpResponse | None:
    """The 4xx answer for a request the boundary refuses, or None to let it through."""
    refused = _check_params(request)
    if refused or request.method not in _BODY_METHODS:
        return refused
    content_type = request.content_type or ""
    limit = _body_limit(content_type)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _invalid(400, "header.Content-Length", "is not a number")
    if declared > limit:
        return _too_large(limit)
    if content_type == "multipart/form-data":
        if "boundary=" not in request.META.get("CONTENT_TYPE", ""):
            return _invalid(400, "header.Content-Type", "multipart/form-data needs a boundary")
        return _check_form(request)
    if content_type in _FORM_TYPES:
        return _check_form(request)
    try:
        body = request.body
    except RequestDataTooBig:
        return _too_large(limit)
    if not body:
        return None
    # Every other content type reaches django-ninja's JSON parser, so it is checked as JSON.
    return _check_json(body)


class InputBoundaryMiddleware(_AsyncCapable):
    """Sits right under JsonApiErrorsMiddleware; pages (admin) are validated by their forms."""

    def __call__(self, request):
        refused = input_problem(request) if is_api_request(request) else None
        if refused is None:
            return super().__call__(request)
        if self._is_async:
            return self._refused(refused)
        return refused

    async def _refused(self, response: HttpResponse) -> HttpResponse:
        return response
