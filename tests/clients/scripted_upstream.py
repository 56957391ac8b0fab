"""A scripted OpenAI-compatible upstream (aiohttp, real HTTP) for the client suite.

It answers the way a model would for the request it gets, so real clients complete real flows:

    last message is a tool result   → text quoting the tool's output
    function tools offered          → a call of the forced (or first) tool, with arguments made
                                      from the tool's JSON Schema
    response_format json_schema     → a JSON document made from the schema
    otherwise                       → a fixed text

`n` choices, logprobs, `system_fingerprint`, usage with token details and streaming (tool-call
arguments in pieces, usage chunk) follow OpenAI. Model names script failures:

    too-long     400 context_length_exceeded (param "messages")
    busy-a/b     429 with Retry-After 7 / 3
    reasoner     (stream) reasoning_content deltas before the text

Embeddings take strings or token arrays and honour `dimensions` (8 by default); model
`fixed-dims` refuses `dimensions` with a 400 as text-embedding-ada-002 does.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from tests.fakes.server import serve_aiohttp

TEXT = "Hello from the scripted upstream."
FINGERPRINT = "fp_scripted"
PROMPT_TOKENS = 13
DEFAULT_DIMENSIONS = 8


@dataclass
class ScriptState:
    requests: list[dict] = field(default_factory=list)

    def last(self, path: str) -> dict:
        return next(r["body"] for r in reversed(self.requests) if r["path"] == path)


def sample(schema: dict, defs: dict | None = None):
    """A small instance of a JSON Schema (what a model following the schema would produce)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return sample(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return sample(options[0], defs)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {name: sample(sub, defs) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [sample(schema.get("items") or {"type": "string"}, defs)]
    return {"integer": 7, "number": 1.5, "boolean": True, "null": None}.get(kind, "Kyiv")


def _tool_call(body: dict) -> dict | None:
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    choice = body.get("tool_choice")
    last = (body.get("messages") or [{}])[-1]
    if not tools or choice == "none" or last.get("role") == "tool":
        return None
    tool = tools[0]
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        tool = next((t for t in tools if t["function"]["name"] == wanted), tool)
    function = tool["function"]
    arguments = orjson.dumps(sample(function.get("parameters") or {})).decode()
    digest = hashlib.sha256(orjson.dumps(body.get("messages"))).hexdigest()[:12]
    return {
        "id": f"call_{digest}",
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments},
    }


def _text(body: dict) -> str:
    last = (body.get("messages") or [{}])[-1]
    if last.get("role") == "tool":
        return f"The tool said: {last.get('content')}"
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return orjson.dumps(sample(fmt["json_schema"].get("schema") or {})).decode()
    if fmt.get("type") == "json_object":
        return '{"answer": "ok"}'
    return TEXT


def _usage(completion: int) -> dict:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion,
        "total_tokens": PROMPT_TOKENS + completion,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }


def _logprobs(text: str) -> dict:
    tokens = text.split(" ")[:3]
    return {"content": [{"token": t, "logprob": -0.5, "bytes": list(t.encode())} for t in tokens]}


def _errors(model: str) -> web.Response | None:
    if model == "too-long":
        error = {
            "message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
        return web.json_response({"error": error}, status=400)
    if model in ("busy-a", "busy-b"):
        wait = "7" if model == "busy-a" else "3"
        error = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
        return web.json_response({"error": error}, status=429, headers={"Retry-After": wait})
    return None


def make_app(state: ScriptState) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        state.requests.append({"path": "chat", "body": body})
        model = body.get("model", "")
        failure = _errors(model)
        if failure is not None:
            return failure
        n = body.get("n") or 1
        call = _tool_call(body)
        text = None if call else _text(body)
        if body.get("stream"):
            return await _stream(request, body, model, n, call, text)
        message = {"role": "assistant", "content": text}
        if call:
            message["tool_calls"] = [call]
        completion_tokens = 5 * n
        choices = [
            {
                "index": i,
                "message": message,
                "finish_reason": "tool_calls" if call else "stop",
                "logprobs": _logprobs(text or "") if body.get("logprobs") else None,
            }
            for i in range(n)
        ]
        return web.json_response(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "system_fingerprint": FINGERPRINT,
                "choices": choices,
                "usage": _usage(completion_tokens),
            }
        )

    async def _stream(request, body, model, n, call, text) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(choice: dict | None, usage: dict | None = None) -> None:
            chunk = {
                "id": "chatcmpl-scripted",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": model,
                "system_fingerprint": FINGERPRINT,
                "choices": [choice] if choice else [],
            }
            if usage:
                chunk["usage"] = usage
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")

        for i in range(n):
            await send({"index": i, "delta": {"role": "assistant", "content": ""}})
            if model == "reasoner":
                for piece in ("Thinking ", "hard."):
                    await send({"index": i, "delta": {"reasoning_content": piece}})
            if call:
                head = {"index": 0, "id": call["id"], "type": "function"}
                head["function"] = {"name": call["function"]["name"], "arguments": ""}
                await send({"index": i, "delta": {"tool_calls": [head]}})
                arguments = call["function"]["arguments"]
                for part in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
                    piece = {"index": 0, "function": {"arguments": part}}
                    await send({"index": i, "delta": {"tool_calls": [piece]}})
            else:
                for word in text.split(" "):
                    choice = {"index": i, "delta": {"content": word + " "}}
                    if body.get("logprobs"):
                        choice["logprobs"] = _logprobs(word)
                    await send(choice)
            finish = "tool_calls" if call else "stop"
            await send({"index": i, "delta": {}, "finish_reason": finish})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(None, _usage(5 * n))
        await response.write(b"data: [DONE]\n\n")
        return response

    async def embeddings(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        state.requests.append({"path": "embeddings", "body": body})
        if body.get("dimensions") and body.get("model") == "fixed-dims":
            error = {"message": "This model does not support specifying dimensions.",
                     "type": "invalid_request_error", "param": None, "code": None}  # fmt: skip
            return web.json_response({"error": error}, status=400)
        inputs = body["input"]
        inputs = [inputs] if isinstance(inputs, str) or isinstance(inputs[0], int) else inputs
        dims = body.get("dimensions") or DEFAULT_DIMENSIONS
        data = []
        for i, item in enumerate(inputs):
            seed = hashlib.sha256(orjson.dumps(item)).digest()
            raw = [seed[k % len(seed)] / 255 + 0.01 for k in range(dims)]
            norm = math.sqrt(sum(x * x for x in raw))
            data.append({"object": "embedding", "index": i, "embedding": [x / norm for x in raw]})
        tokens = sum(len(x) if isinstance(x, list) else len(x.split()) for x in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/embeddings", embeddings)
    return app


@contextlib.contextmanager
def scripted_upstream():
    state = ScriptState()
    with serve_aiohttp(make_app(state)) as url:
        yield f"{url}/v1", state
