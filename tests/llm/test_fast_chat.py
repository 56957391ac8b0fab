"""POST /v1/chat/completions' fast path (daarion/server/fast_chat.py) answers exactly as the full
Django path does: the same requests go through uvicorn over a socket with the fast path on and
off, and status, body, headers and usage rows must agree. Ordinary requests must not build a
Django request at all (streamed or not); every unusual one must be handed to the full path."""

from __future__ import annotations

import httpx
import orjson
import pytest

from daarion.server.asgi_handler import ApiFastASGIHandler
from llm.models import UsageLog
from llm.usage import usage_flush
from tests.factories import AgentFactory, make_service_token
from tests.fakes.openai_upstream import fake_upstream
from tests.llm.factories import OfflineProviderFactory, ProviderFactory, make_route

pytestmark = pytest.mark.django_db(transaction=True)

_MESSAGES = [{"role": "user", "content": "Привіт, Sofia"}]


@pytest.fixture
def world(live_server_url):
    agent, other = AgentFactory(), AgentFactory()
    make_route("chat-offline", OfflineProviderFactory())
    _, bound = make_service_token(scopes=["llm"], agent=agent)
    _, unbound = make_service_token(scopes=["llm"])
    _, no_llm = make_service_token(scopes=["memory"], agent=agent)
    with fake_upstream() as (url, _state):
        upstream = ProviderFactory(base_url=url)
        make_route("chat-upstream", upstream, physical_model="echo")
        make_route("chat-broken", upstream, physical_model="error500")
        make_route("chat-badreq", upstream, physical_model="badreq")
        yield {
            "url": f"{live_server_url}/v1/chat/completions",
            "agent": agent,
            "other": other,
            "bound": bound,
            "unbound": unbound,
            "no_llm": no_llm,
        }


def _nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


def _cases(w) -> dict[str, tuple[dict, bytes, str]]:
    """name → (headers, body, query string); `fast` cases are the ones the fast path answers."""
    auth = {"Authorization": f"Bearer {w['bound']}", "Content-Type": "application/json"}

    def body(**fields) -> bytes:
        return orjson.dumps({"model": "chat-offline", "messages": _MESSAGES, **fields})

    return {
        "fast:ok offline": (auth, body(), ""),
        "fast:ok upstream": (auth, body(model="chat-upstream", temperature=0.2), ""),
        "fast:n=1": (auth, body(n=1), ""),
        "fast:request id echoed": ({**auth, "X-Request-ID": "req-fast-1"}, body(), ""),
        "fast:charset": ({**auth, "Content-Type": "application/json; charset=utf-8"}, body(), ""),
        "fast:unknown model": (auth, body(model="no-such-model"), ""),
        "fast:upstream 500": (auth, body(model="chat-broken"), ""),
        "fast:upstream 400": (auth, body(model="chat-badreq"), ""),
        "fast:stream": (auth, body(stream=True), ""),
        "fast:stream with usage": (
            auth,
            body(model="chat-upstream", stream=True, stream_options={"include_usage": True}),
            "",
        ),
        "fast:stream upstream 500": (auth, body(model="chat-broken", stream=True), ""),
        "fast:unbound token acts as agent": (
            {**auth, "Authorization": f"Bearer {w['unbound']}"},
            body(metadata={"agent_id": w["agent"].id}),
            "",
        ),
        "full:n=0": (auth, body(n=0), ""),
        "full:no credentials": ({"Content-Type": "application/json"}, body(), ""),
        "full:wrong token": ({**auth, "Authorization": "Bearer nope"}, body(), ""),
        "full:token without llm": ({**auth, "Authorization": f"Bearer {w['no_llm']}"}, body(), ""),
        "full:other agent": (auth, body(metadata={"agent_id": w["other"].id}), ""),
        "full:no messages": (auth, orjson.dumps({"model": "chat-offline"}), ""),
        "full:messages not a list": (auth, body(messages="hi"), ""),
        "full:not json": (auth, b'{"model": "chat-offline", "messages": [', ""),
        "full:json array": (auth, b"[1, 2]", ""),
        "full:NUL": (auth, body(messages=[{"role": "user", "content": "a\x00b"}]), ""),
        "full:lone surrogate": (
            auth,
            b'{"model": "chat-offline", "messages": [{"role": "user", "content": "\\ud800"}]}',
            "",
        ),
        "full:too deep": (auth, body(user_data=_nested(200)), ""),
        "full:text/plain": ({**auth, "Content-Type": "text/plain"}, body(), ""),
        "full:query string": (auth, body(), "x=1"),
        "full:daarion header": ({**auth, "X-Daarion-Trace": "t"}, body(), ""),
    }


def _normalised(payload: dict) -> dict:
    """The answer without what differs between two identical requests (ids, times)."""
    text = orjson.dumps(payload).decode()
    for key in ("id", "created", "request_id", "latency_ms", "upstream_latency_ms"):
        text = _drop_key(text, key)
    return orjson.loads(text)


def _drop_key(text: str, key: str) -> str:
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != key}
        if isinstance(value, list):
            return [strip(v) for v in value]
        if isinstance(value, str) and "Internal error (request id" in value:
            return "Internal error (request id …)."
        return value

    return orjson.dumps(strip(orjson.loads(text))).decode()


def _body(response: httpx.Response):
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = [line.removeprefix("data: ") for line in response.text.splitlines() if line]
        return [e if e == "[DONE]" else _normalised(orjson.loads(e)) for e in events]
    return _normalised(response.json())


def _send(client: httpx.Client, url: str, case) -> dict:
    headers, body, query = case
    before = UsageLog.objects.count()
    response = client.post(f"{url}?{query}" if query else url, content=body, headers=headers)
    usage_flush()
    rows = list(UsageLog.objects.order_by("-id")[: UsageLog.objects.count() - before])
    return {
        "status": response.status_code,
        "content_type": response.headers.get("content-type"),
        "request_id": response.headers.get("x-request-id"),
        "body": _body(response),
        "usage": sorted((r.status, r.error_type, r.model, r.agent_id) for r in rows),
    }


def test_fast_path_answers_as_the_full_path(world, settings, monkeypatch):
    built: list[str] = []
    real_create_request = ApiFastASGIHandler.create_request

    def counting_create_request(self, scope, body_file):
        built.append(scope["path"])
        return real_create_request(self, scope, body_file)

    monkeypatch.setattr(ApiFastASGIHandler, "create_request", counting_create_request)
    cases = _cases(world)
    answers: dict[bool, dict[str, dict]] = {}
    with httpx.Client(timeout=20) as client:
        for fast in (True, False):
            settings.API_FAST_CHAT = fast
            answers[fast] = {}
            for name, case in cases.items():
                built.clear()
                answers[fast][name] = _send(client, world["url"], case)
                took_full_path = bool(built)
                if fast:
                    assert took_full_path == name.startswith("full:"), name
                else:
                    assert took_full_path, name

    for name in cases:
        fast, full = answers[True][name], answers[False][name]
        if name == "fast:request id echoed":
            assert fast["request_id"] == full["request_id"] == "req-fast-1"
        else:
            assert fast["request_id"] and full["request_id"], name
        fast.pop("request_id"), full.pop("request_id")
        assert fast == full, name
    # The cases do cover answers and refusals of both kinds.
    statuses = {answers[True][name]["status"] for name in cases}
    assert {200, 400, 401, 403, 404, 422}.issubset(statuses), statuses
    assert answers[True]["fast:upstream 500"]["status"] >= 500
    stream = answers[True]["fast:stream with usage"]["body"]
    assert stream[-1] == "[DONE]" and stream[-2]["usage"]["completion_tokens"] > 0
    assert answers[True]["fast:ok offline"]["usage"] == [
        ("ok", "", "chat-offline", world["agent"].id)
    ]


def test_a_failing_token_lookup_gets_the_full_paths_503(world, monkeypatch):
    """A token not cached while the database is down: the fast path must not answer 500 (the
    real-outage test found it did); the full path answers 503 with Retry-After."""
    from django.db import OperationalError

    import daarion.server.auth as auth

    async def database_down(*, raw_token):
        raise OperationalError("couldn't get a connection after 1.50 sec")

    monkeypatch.setattr(auth, "service_token_aauthenticate", database_down)
    body = {"model": "chat-offline", "messages": _MESSAGES}
    headers = {"Authorization": f"Bearer {world['bound']}"}
    with httpx.Client(timeout=20) as client:
        response = client.post(world["url"], json=body, headers=headers)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "service_unavailable"
