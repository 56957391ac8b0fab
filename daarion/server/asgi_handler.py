"""Django's ASGI handler without the per-request worker thread for API requests.

Django's `ASGIHandler` opens a `ThreadSensitiveContext` per request and sends `request_started`
and `response.close()` (which sends `request_finished`) through `sync_to_async`. Under that
context asgiref creates a new single-thread executor for the request on its first hop and, on
exit, starts one more thread to join it: two thread starts and four thread wake-ups per request,
for signal receivers (`close_old_connections`, `reset_queries`) that only act on the database
connections of the thread they run on — connections a fresh thread does not have. On a busy
machine each wake-up waits for a CPU; that was most of the gateway's added latency.

For API requests (daarion.server.middleware.is_api_request's paths) this handler sends
`request_started` on the event loop (its receivers find no connection there: async code never
opens one on the loop thread) and closes the response on the loop too — unless the request did
run sync code (a cache miss's ORM read), i.e. its context created a worker thread: then the
response is closed on that thread exactly as Django does, so its pooled connection goes back.
Pages (admin, sessions) go through Django's handler unchanged. An ordinary POST
/v1/chat/completions does not even build a Django request (daarion/server/fast_chat.py).

It also remembers the URL match of API paths without captured arguments (/v1/chat/completions):
Django walks the URL patterns on every request, a tenth of the event loop's time in the
gateway's profile. The cache is keyed by the resolver (a new URLconf brings a new one) and
bounded, so unknown paths cannot grow it.
"""

from __future__ import annotations

import asyncio
import contextlib

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http.response import HttpResponseBase
from django.urls import get_resolver, set_script_prefix

from daarion.common.registry_stamp import registry_stamp_acheck
from daarion.server.fast_chat import fast_chat_applies, fast_chat_response
from daarion.server.middleware import is_api_path

_MAX_REMEMBERED_MATCHES = 256


class ApiFastASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self._matches: dict[tuple[object, str], object] = {}

    def resolve_request(self, request):
        if hasattr(request, "urlconf") or not is_api_path(request.path):
            return super().resolve_request(request)
        key = (get_resolver(), request.path_info)
        match = self._matches.get(key)
        if match is None:
            match = super().resolve_request(request)
            if not match.args and not match.kwargs and len(self._matches) < _MAX_REMEMBERED_MATCHES:
                self._matches[key] = match
        request.resolver_match = match
        return match

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not is_api_path(scope.get("path", "")):
            return await super().__call__(scope, receive, send)
        async with ThreadSensitiveContext() as context:
            await self._handle_api(scope, receive, send, context)

    async def _handle_api(self, scope, receive, send, context: ThreadSensitiveContext) -> None:
        # Django's ASGIHandler.handle (5.2), with the two signal hops moved onto the loop.
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        await registry_stamp_acheck()  # a registry change in another process: reload first
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)

        async def process_request(send):
            response = await self._fast_response(scope, body_file)
            if response is None:
                request, response = self.create_request(scope, body_file)
                if request is not None:
                    response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # client left during the send
                await self.send_response(response, send)
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await self._finished(context)
        else:
            await self._close(response, context)
        body_file.close()

    @staticmethod
    async def _fast_response(scope, body_file) -> HttpResponseBase | None:
        """POST /v1/chat/completions' fast path (daarion/server/fast_chat.py), or None."""
        if not fast_chat_applies(scope):
            return None
        response = await fast_chat_response(scope, body_file.read())
        if response is None:
            body_file.seek(0)  # the full path reads the body again
        return response

    @staticmethod
    def _ran_sync_code(context: ThreadSensitiveContext) -> bool:
        # The context sync_to_async used (an enclosing one wins, e.g. under a test client).
        effective = SyncToAsync.thread_sensitive_context.get(context)
        return effective in SyncToAsync.context_to_thread_executor

    async def _close(self, response, context: ThreadSensitiveContext) -> None:
        if self._ran_sync_code(context):
            await sync_to_async(response.close)()
        else:
            response.close()

    async def _finished(self, context: ThreadSensitiveContext) -> None:
        if self._ran_sync_code(context):
            await signals.request_finished.asend(sender=self.__class__)
        else:
            signals.request_finished.send(sender=self.__class__)
