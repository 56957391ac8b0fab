"""POST /v1/chat/completions served without Django's request object, middleware and ninja.

The gateway's hottest call spent about a third of its own CPU in the layers around the view:
building the HttpRequest, the middleware chain, URL resolution, ninja's operation (auth, a
second JSON parse, a wrapper model). For the ordinary request (valid JSON with a known token,
streamed or not) this module does the same steps directly and calls the same functions the
ninja view calls (`chat_request_of`, `chat_completion_response`), with the same input rules
(`json_problem`) and the same error shapes (llm.openai.errors).

Anything else is handed back (None) *before the gateway is called*, and the request goes down
the full Django path with its body: a bad body, a missing or unknown token, a token lacking the
scope, an agent the token may not act as, a query string, a DAARION header to check, an error
such as the database being down during the token lookup. So every refusal, and its usage row,
comes from one place (the ninja handlers), and the fast path only answers requests that path
would have answered the same way. API_FAST_CHAT=0 switches it off.
"""

from __future__ import annotations

import logging

import orjson
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http.response import HttpResponseBase

from daarion.agents.types import Caller
from daarion.common.errors import ApiError
from daarion.common.input_rules import json_problem
from daarion.common.request_context import request_id_var
from daarion.server.auth import caller_from_credentials
from daarion.server.middleware import request_id_from_header
from llm.openai.chat import chat_completion_response, chat_request_of
from llm.openai.errors import (
    api_error_as_openai,
    database_unavailable_response,
    internal_error_response,
)
from llm.schemas import ChatBody
from llm.types import ChatRequest

logger = logging.getLogger(__name__)

PATH = "/v1/chat/completions"
_JSON = "application/json"


def fast_chat_applies(scope: dict) -> bool:
    """Whether the request may try the fast path (the rest is decided on its content)."""
    return (
        scope["path"] == PATH
        and scope["method"] == "POST"
        and not scope.get("query_string")
        and not scope.get("root_path")
        and settings.API_FAST_CHAT
    )


def _headers(scope: dict) -> dict[str, str] | None:
    """Lower-cased names → values (latin-1, as Django decodes them); None when a header the
    full path would check or treat specially is present (or repeated)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name.startswith("x-daarion-") or name in headers:
            return None
        headers[name] = raw_value.decode("latin-1")
    return headers


async def _caller(headers: dict[str, str]) -> Caller | None:
    caller = await caller_from_credentials(
        internal_secret=headers.get("x-internal-secret"),
        authorization=headers.get("authorization", ""),
    )
    return caller if caller is not None and caller.has_scope("llm") else None


async def fast_chat_response(scope: dict, body: bytes) -> HttpResponseBase | None:
    """The answer to an ordinary chat completion, or None to send the request the full way."""
    try:
        prepared = await _prepare(scope, body)
    except Exception:  # e.g. a token lookup while the database is down: the full path answers
        return None  # (503 there), with its error handlers and the refusal's usage row
    if prepared is None:
        return None
    chat_request, stream, request_id = prepared
    request_id_var.set(request_id)
    response = await _answer(chat_request, stream, request_id)
    response["X-Request-ID"] = request_id
    return response


async def _prepare(scope: dict, body: bytes) -> tuple[ChatRequest, bool, str] | None:
    """The gateway request, whether it streams, and the request id; None for anything out of
    the ordinary."""
    headers = _headers(scope)
    if headers is None or headers.get("content-type", "").partition(";")[0].strip() != _JSON:
        return None
    if len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or json_problem(data):
        return None
    caller = await _caller(headers)
    if caller is None:
        return None
    request_id = request_id_from_header(headers.get("x-request-id", ""))
    # A schema error or an agent the caller may not act as raises: the full path refuses it.
    chat_body = ChatBody.model_validate(data)
    return chat_request_of(caller, request_id, chat_body), chat_body.stream, request_id


async def _answer(chat_request: ChatRequest, stream: bool, request_id: str) -> HttpResponseBase:
    # From here on the gateway writes the request's usage row, whatever happens.
    try:
        return await chat_completion_response(chat_request, stream=stream)
    except ApiError as exc:
        return api_error_as_openai(exc)
    except (OperationalError, InterfaceError) as exc:
        logger.error("database unavailable in POST %s: %s", PATH, exc)
        return database_unavailable_response()
    except Exception:
        logger.exception("unhandled error in POST %s", PATH)
        return internal_error_response(request_id)
