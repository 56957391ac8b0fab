"""A fake OpenAI-compatible upstream (aiohttp), behaviour chosen by the requested model name.

    fast        200 with a fixed reply and usage
    tools       200 with an OpenAI tool call
    slow        sleeps `slow_seconds` before answering (for timeouts)
    error500    HTTP 500
    flaky       HTTP 500 on the first call, then 200
    ratelimit   HTTP 429 with Retry-After: 1 on the first call, then 200
    ratelimit-long  HTTP 429 with Retry-After: 120 (longer than anyone should wait)
    malformed   200 with a body that is not JSON
    auth        HTTP 401 whose message quotes the presented key (tests redaction)
    badreq      HTTP 400 (the request's own fault)
    cut         (stream) sends two chunks and closes the connection without [DONE]
    nousage     (stream) no usage chunk at the end

Streaming follows OpenAI's SSE format. Every request is kept in `state.requests`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
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


def _completion(model: str, message: dict, finish_reason: str = "stop") -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        },
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


def make_upstream(state: UpstreamState) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        model = body.get("model", "")
        state.requests.append({"headers": dict(request.headers), "body": body})
        state.calls[model] += 1
        n = state.calls[model]
        if model == "slow":
            await asyncio.sleep(state.slow_seconds)
        if model == "error500" or (model == "flaky" and n == 1):
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if model == "ratelimit" and n == 1:
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "1"}
            )
        if model == "ratelimit-long":
            return web.json_response(
                {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "120"}
            )
        if model == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        if model == "auth":
            presented = request.headers.get("Authorization", "")
            return web.json_response(
                {"error": {"message": f"Incorrect API key provided: {presented}"}}, status=401
            )
        if model == "badreq":
            return web.json_response({"error": {"message": "max_tokens is too large"}}, status=400)
        if body.get("stream"):
            return await _stream(request, body, model)
        if model == "tools":
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "projects_list", "arguments": '{"limit": 3}'},
                    }
                ],
            }
            return web.json_response(_completion(model, message, "tool_calls"))
        return web.json_response(_completion(model, {"role": "assistant", "content": REPLY}))

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
            await response.write(
                b"data: "
                + orjson.dumps(
                    {"id": "x", "object": "chat.completion.chunk", "choices": [], "usage": usage}
                )
                + b"\n\n"
            )
        await response.write(b"data: [DONE]\n\n")
        return response

    async def embeddings(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        model = body.get("model", "")
        state.requests.append({"headers": dict(request.headers), "body": body})
        state.calls[model] += 1
        if model == "error500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        texts = body["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 0.0, 0.5]}
            for i, t in enumerate(texts)
        ]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": 2 * len(texts), "total_tokens": 2 * len(texts)},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    return app


@contextlib.contextmanager
def fake_upstream():
    state = UpstreamState()
    with serve_aiohttp(make_upstream(state)) as url:
        yield f"{url}/v1", state
