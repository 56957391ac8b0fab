"""Django's page middleware, skipped altogether for API requests (/internal/, /v1/).

Under ASGI, Django runs every hook of a `MiddlewareMixin` middleware through `sync_to_async`, a
hop to a worker thread and back: with the built-ins below that was ~15 hops per request, the
largest CPU cost of an LLM gateway request. API requests authenticate with bearer tokens and
never use sessions, users, messages, CSRF cookies or frames, so for them each class below hands
the request straight to the next layer: no hook runs, nothing touches the database (saving a
session from the event loop is what answered an HTML 500 with SESSION_SAVE_EVERY_REQUEST=True).
Admin and other pages go through Django's unchanged middleware.

Only the public middleware protocol is used (`__call__`, `get_response`, `process_view`); each
class subclasses the built-in it replaces, so the admin's E408 to E410 checks still see them.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.http import HttpRequest
from django.middleware import clickjacking, common, csrf, security

from daarion.server.middleware import is_api_request


class _PagesOnly:
    get_response: Any  # set by the Django middleware this is mixed into

    def __call__(self, request: HttpRequest):
        if is_api_request(request):
            # An awaitable under ASGI (the caller awaits it), a response under WSGI.
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]  # the mixed-in Django class


class SecurityMiddleware(_PagesOnly, security.SecurityMiddleware):
    pass


class SessionMiddleware(_PagesOnly, sessions_middleware.SessionMiddleware):
    pass


class CommonMiddleware(_PagesOnly, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(_PagesOnly, csrf.CsrfViewMiddleware):
    # Django calls process_view for every request, outside __call__; a coroutine here spares
    # API requests the thread hop Django would add around a sync process_view.
    async def process_view(self, request, callback, callback_args, callback_kwargs):
        if is_api_request(request):
            return None
        view = super().process_view
        return await sync_to_async(view)(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(_PagesOnly, auth_middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(_PagesOnly, messages_middleware.MessageMiddleware):
    pass


class XFrameOptionsMiddleware(_PagesOnly, clickjacking.XFrameOptionsMiddleware):
    pass
