"""The ASGI handler serves API requests without a per-request worker thread (asgi_handler.py),
yet a request that did run sync code still finishes on that code's thread (its pooled DB
connection goes back), and pages keep Django's handling."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.core import signals

from daarion.server.asgi import application
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def _asgi(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """One GET through the ASGI application in this loop (what uvicorn does, minus the socket)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict] = []

    async def receive():
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()  # no disconnect: the handler cancels this when done

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


@pytest.fixture
def executor_submits(monkeypatch) -> list[str]:
    calls: list[str] = []
    real_submit = concurrent.futures.ThreadPoolExecutor.submit

    def counting_submit(self, fn, /, *args, **kwargs):
        calls.append(getattr(fn, "__name__", repr(fn)))
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", counting_submit)
    return calls


@pytest.fixture
def finished_on() -> list[str]:
    """The thread each request_finished signal ran on."""
    threads: list[str] = []

    def receiver(**kwargs):
        threads.append(threading.current_thread().name)

    signals.request_finished.connect(receiver, weak=False)
    yield threads
    signals.request_finished.disconnect(receiver)


async def test_api_requests_hop_to_a_thread_only_for_sync_code(
    internal_headers, executor_submits, finished_on
):
    await sync_to_async(AgentFactory)(id="agent:fast")
    loop_thread = threading.current_thread().name

    status, body = await _asgi("/internal/agents/agent:fast", internal_headers)  # cache miss
    assert status == 200, body[:300]
    assert orjson.loads(body)["id"] == "agent:fast"
    assert executor_submits  # the ORM read ran on a worker thread...
    assert finished_on[-1] != loop_thread  # ...so the request finished there (connection back)

    executor_submits.clear()
    status, body = await _asgi("/internal/agents/agent:fast", internal_headers)  # cached
    assert status == 200, body[:300]
    assert executor_submits == []  # no thread hop at all
    assert finished_on[-1] == loop_thread


async def test_api_errors_and_pages_still_answer(internal_headers):
    status, body = await _asgi("/v1/no-such-endpoint", internal_headers)
    assert status == 404
    assert orjson.loads(body)["error"]["type"] == "not_found"
    status, body = await _asgi("/internal/agents/agent:none", {})
    assert status == 401
    status, body = await _asgi("/admin/login/", {})  # Django's own handler path
    assert status == 200
    assert b"csrfmiddlewaretoken" in body


async def test_remembered_url_matches_never_mix_up_captured_arguments(internal_headers):
    for agent_id in ("agent:one", "agent:two"):
        await sync_to_async(AgentFactory)(id=agent_id)
    for _ in range(2):  # the second round is served from remembered matches where allowed
        for agent_id in ("agent:one", "agent:two"):
            status, body = await _asgi(f"/internal/agents/{agent_id}", internal_headers)
            assert status == 200, body[:300]
            assert orjson.loads(body)["id"] == agent_id
        status, body = await _asgi("/v1/models", internal_headers)
        assert status == 200
        assert orjson.loads(body)["object"] == "list"
