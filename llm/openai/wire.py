"""JSON and Server-Sent-Events bytes of /v1 answers."""

from __future__ import annotations

from decimal import Decimal

import orjson
from django.http import HttpResponse

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _default(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


def json_response(data: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(data, default=_default), status=status, content_type="application/json"
    )


def sse(data: dict | str, *, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else orjson.dumps(data, default=_default).decode()
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()
