"""The one fake OpenAI-compatible upstream of the test suite (aiohttp, real HTTP on 127.0.0.1).

Scriptable three ways:

* by the requested model name (canned behaviours, below);
* by `state.script`: a function of the request body returning the assistant message to send
  (or None for the canned reply) — the end-to-end tests script a whole agent turn with it;
* by flags on the state: `down` (HTTP 503 to everything), `slow_seconds`, `stream_chunks`,
  `stream_delay` (latency between SSE chunks), `embed_dimensions` (real feature-hashing
  vectors), `embed_fail_when_contains` (HTTP 500 for a batch holding that text).

Model names:

    fast / anything  200 with a fixed reply and usage
    tools            200 with an OpenAI tool call
    slow             sleeps `slow_seconds` before answering (for timeouts)
    slow500          sleeps 0.5 s (the benchmark's slow upstream)
    error500         HTTP 500
    flaky            HTTP 500 on the first call, then 200
    ratelimit        HTTP 429 with Retry-After: 1 on the first call, then 200
    ratelimit-long   HTTP 429 with Retry-After: 120 (longer than anyone should wait)
    malformed        200 with a body that is not JSON
    auth             HTTP 401 whose message quotes the presented key (tests redaction)
    badreq           HTTP 400 (the request's own fault)
    cut              (stream) sends two chunks and closes the connection without [DONE]
    nousage          (stream) no usage chunk at the end

Streaming follows OpenAI's SSE format. Every request is kept in `state.requests` as
{"headers", "body"}, except in benchmark mode (`record=False`), which also serves the canned
reply pre-serialised so the upstream costs as little CPU as possible:

    python -m tests.fakes.openai_upstream --port 9999
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from tests.fakes.server import serve_aiohttp

REPLY = "Hello from the fake upstream."
PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7


@dataclass
class UpstreamState:
    requests: list[dict] = field(default_factory=list)
    calls: Counter = field(default_factory=Counter)
    slow_seconds: float = 2.0
    stream_chunks: int = 5
    stream_delay: float = 0.0
    down: bool = False
    script: Callable[[dict], dict | None] | None = None
    embed_dimensions: int | None = None  # set: real feature-hashing vectors of this size
    embed_fail_when_contains: str | None = None  # HTTP 500 for any batch holding this text
    record: bool = True
    url: str = ""  # the server's root URL (…/v1 is the OpenAI base URL)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def completion(model: str, message: dict, *, usage: dict | None = None) -> dict:
    finish_reason = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage
        or {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        },
    }


def tool_call_message(name: str, arguments: str, *, call_id: str = "call_1") -> dict:
    """An assistant message calling `name` with `arguments` (a JSON string, as OpenAI sends)."""
    function = {"name": name, "arguments": arguments}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


def _chunk(model: str, delta: dict, finish_reason=None) -> bytes:
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _vector(text: str, dimensions: int | None) -> list[float]:
    if dimensions is None:
        return [float(len(text)), 1.0, 0.0, 0.5]
    # Imported here: the benchmark runs this module in a process without Django settings.
    from llm.providers.offline import hash_embedding

    return hash_embedding(text, dimensions)


def _error(status: int, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"error": {"message": message}}, status=status, headers=headers)


_CANNED = orjson.dumps(completion("fake", {"role": "assistant", "content": REPLY}))


def make_upstream(state: UpstreamState) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        model = body.get("model", "")
        if state.record:
            state.requests.append({"headers": dict(request.headers), "body": body})
            state.calls[model] += 1
        n = state.calls[model]
        if state.down:
            return _error(503, "overloaded")
        if model == "slow":
            await asyncio.sleep(state.slow_seconds)
        if model == "slow500":
            await asyncio.sleep(0.5)
        if model == "error500" or (model == "flaky" and n == 1):
            return _error(500, "boom")
        if model == "ratelimit" and n == 1:
            return _error(429, "slow down", {"Retry-After": "1"})
        if model == "ratelimit-long":
            return _error(429, "slow down", {"Retry-After": "120"})
        if model == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        if model == "auth":
            presented = request.headers.get("Authorization", "")
            return _error(401, f"Incorrect API key provided: {presented}")
        if model == "echo-key":  # a successful reply that quotes the key it was sent
            presented = request.headers.get("Authorization", "")
            return web.json_response(completion(model, {"role": "assistant", "content": presented}))
        if model == "badreq":
            return _error(400, "max_tokens is too large")
        if body.get("stream"):
            return await _stream(request, body, model)
        message = state.script(body) if state.script else None
        if message is None and model == "tools":
            message = tool_call_message("projects_list", '{"limit": 3}')
        if message is None:
            if not state.record:
                return web.Response(body=_CANNED, content_type="application/json")
            message = {"role": "assistant", "content": REPLY}
        return web.json_response(completion(model, message))

    async def _stream(request: web.Request, body: dict, model: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_chunk(model, {"role": "assistant", "content": ""}))
        for i in range(state.stream_chunks):
            if model == "cut" and i == 2:
                # Drop the connection mid-stream: no finish_reason, no [DONE].
                request.transport.close()
                return response
            await response.write(_chunk(model, {"content": f"word{i} "}))
            if state.stream_delay:
                await asyncio.sleep(state.stream_delay)
        await response.write(_chunk(model, {}, "stop"))
        if model != "nousage" and (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": state.stream_chunks,
                "total_tokens": PROMPT_TOKENS + state.stream_chunks,
            }
            last = {"id": "x", "object": "chat.completion.chunk", "choices": [], "usage": usage}
            await response.write(b"data: " + orjson.dumps(last) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response

    async def embeddings(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        model = body.get("model", "")
        if state.record:
            state.requests.append({"headers": dict(request.headers), "body": body})
            state.calls[model] += 1
        if state.down:
            return _error(503, "overloaded")
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        failing = state.embed_fail_when_contains
        if model == "error500" or (failing and any(failing in text for text in texts)):
            return _error(500, "boom")
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(text, state.embed_dimensions)}
            for i, text in enumerate(texts)
        ]
        usage = {"prompt_tokens": 2 * len(texts), "total_tokens": 2 * len(texts)}
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    return app


@contextlib.contextmanager
def fake_upstream(state: UpstreamState | None = None) -> Iterator[tuple[str, UpstreamState]]:
    """Serve the fake in a background thread; yields (OpenAI base URL …/v1, state)."""
    state = state or UpstreamState()
    with serve_aiohttp(make_upstream(state)) as url:
        state.url = url
        yield f"{url}/v1", state


def main() -> None:
    """The benchmark's upstream, in a process of its own (uvloop, nothing recorded)."""
    import uvloop  # only the benchmark needs it

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.install()
    app = make_upstream(UpstreamState(record=False))
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
