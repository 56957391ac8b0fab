"""The current request's id, readable by any layer (logs, usage rows, outbound headers).

The root's request-id middleware sets it per HTTP request; code outside a request (commands,
jobs) sees "-" and makes its own id.
"""

from __future__ import annotations

import contextvars
import logging
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str | None:
    """The HTTP request's id when there is one, else None."""
    current = request_id_var.get()
    return current if current and current != "-" else None


def request_id_or_new(given: str | None = None) -> str:
    """`given` (cut to 64 characters), else the current request's id, else a new one."""
    if given:
        return given[:64]
    return current_request_id() or uuid.uuid4().hex


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
