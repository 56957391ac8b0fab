"""Django's built-in middleware, run inline (no thread hop) for API requests.

Under ASGI, Django runs every hook of a `MiddlewareMixin` middleware through `sync_to_async`, a
hop to a worker thread and back: with the eight built-ins below that is ~15 hops per request,
which measured as the largest CPU cost of an LLM gateway request. For `/internal/` and `/v1/`
requests these hooks do no I/O (sessions, users and messages are lazy and API views never touch
them), so running them directly on the event loop is safe. Admin and other pages keep Django's
behaviour (their hooks may hit the database, e.g. saving a session).

Each class is a subclass of the Django middleware it replaces, so `admin.E408`-style checks and
behaviour stay the same.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.middleware import clickjacking, common, csrf, security

from daarion.server.middleware import API_PREFIXES


class _InlineForApi:
    async def __acall__(self, request):
        if not request.path.startswith(API_PREFIXES):
            return await super().__acall__(request)
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class SecurityMiddleware(_InlineForApi, security.SecurityMiddleware):
    pass


class SessionMiddleware(_InlineForApi, sessions_middleware.SessionMiddleware):
    pass


class CommonMiddleware(_InlineForApi, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(_InlineForApi, csrf.CsrfViewMiddleware):
    async def process_view(self, request, callback, callback_args, callback_kwargs):
        view = super().process_view
        if request.path.startswith(API_PREFIXES):
            return view(request, callback, callback_args, callback_kwargs)
        return await sync_to_async(view)(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(_InlineForApi, auth_middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(_InlineForApi, messages_middleware.MessageMiddleware):
    pass


class XFrameOptionsMiddleware(_InlineForApi, clickjacking.XFrameOptionsMiddleware):
    pass
