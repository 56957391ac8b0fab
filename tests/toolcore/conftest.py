"""A real HTTP tool server on 127.0.0.1 (process state is reset by the root conftest)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from aiohttp import web

from tests.factories import AgentFactory
from tests.fakes.server import serve_aiohttp

SECRET = "sk-tool-secret-4f1c9e7a2b"


class ToolServer:
    """State the fake server records, readable from the test."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.requests: list[dict] = []
        self.url = ""
        self.other_url = ""  # the same server under another host name (localhost)


def _app(state: ToolServer) -> web.Application:
    async def record(request: web.Request) -> None:
        state.hits[request.path] += 1
        body = await request.read()
        state.requests.append(
            {
                "method": request.method,
                "raw_path": request.raw_path,
                "path": request.path,
                "query": dict(request.query),
                "headers": request.headers.copy(),  # case-insensitive
                "body": body,
            }
        )

    async def projects(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response(
            {"projects": [{"id": "p1", "name": "X"}], "query": dict(request.query)}
        )

    async def echo_headers(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"headers": dict(request.headers)})

    async def tasks(request: web.Request) -> web.Response:
        await record(request)
        body = await request.json()
        return web.json_response(
            {"project_id": request.match_info["project_id"], "task": body}, status=201
        )

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await asyncio.sleep(1.0)  # well past the tests' deadlines (0.2 to 0.3 s)
        return web.json_response({"late": True})

    async def fail(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"trace": "Traceback: db password=hunter2"}, status=500)

    async def reject_echo(request: web.Request) -> web.Response:
        # A 4xx whose text quotes the key across the excerpt's 300-character cut.
        await record(request)
        text = "x" * 270 + " bad key " + request.headers.get("X-Api-Key", "")
        return web.Response(text=text, status=400)

    async def not_found(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"detail": "no project with that id"}, status=404)

    async def flaky(request: web.Request) -> web.Response:
        await record(request)
        if state.hits[request.path] < 2:
            return web.Response(status=503, text="busy")
        return web.json_response({"ok": "second try"})

    async def big(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=b"x" * 5000, content_type="text/plain")

    async def big_chunked(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"y" * 1000)
        await response.write_eof()
        return response

    async def redirect_away(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound(f"{state.other_url}/projects")

    async def redirect_metadata(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    async def redirect_same(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound("/projects?from=redirect")

    async def not_json(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=b"{not json", content_type="application/json")

    app = web.Application()
    app.router.add_get("/projects", projects)
    app.router.add_get("/echo-headers", echo_headers)
    app.router.add_post("/projects/{project_id}/tasks", tasks)
    app.router.add_get("/slow", slow)
    app.router.add_get("/fail", fail)
    app.router.add_post("/fail", fail)
    app.router.add_get("/missing", not_found)
    app.router.add_get("/reject-echo", reject_echo)
    app.router.add_get("/flaky", flaky)
    app.router.add_post("/flaky", flaky)
    app.router.add_get("/big", big)
    app.router.add_get("/big-chunked", big_chunked)
    app.router.add_get("/redirect-away", redirect_away)
    app.router.add_get("/redirect-metadata", redirect_metadata)
    app.router.add_get("/redirect-same", redirect_same)
    app.router.add_get("/not-json", not_json)
    return app


@pytest.fixture
def tool_server():
    state = ToolServer()
    with serve_aiohttp(_app(state)) as url:
        state.url = url
        state.other_url = url.replace("127.0.0.1", "localhost")
        yield state


@pytest.fixture
def agent(db):
    return AgentFactory()
