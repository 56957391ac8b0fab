"""The end-to-end script of the fake LLM upstream (tests/fakes/openai_upstream.py) and a
projects service (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import re

import orjson
from aiohttp import web

PROJECT_X = {
    "id": "proj-x",
    "name": "Project X",
    "microdao_id": "microdao:daarion",
    "updated_at": "2026-11-20T16:45:00Z",
    "new_tasks": [
        {"id": "t-101", "title": "Draft the token model"},
        {"id": "t-102", "title": "Review the treasury proposal"},
        {"id": "t-103", "title": "Schedule the community call"},
    ],
}


class ProjectsService:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail = False

    def app(self) -> web.Application:
        async def projects(request: web.Request) -> web.Response:
            self.requests.append({"path": request.path, "query": dict(request.query)})
            if self.fail:
                return web.json_response({"detail": "database on fire"}, status=500)
            wanted = request.query.get("microdao_id")
            found = [PROJECT_X] if wanted == PROJECT_X["microdao_id"] else []
            return web.json_response({"projects": found})

        app = web.Application()
        app.router.add_get("/projects", projects)
        return app


def sofia_script(body: dict) -> dict:
    """Sofia's LLM: asks for the projects tool on a project question, then answers from the
    tool's result; answers 'when did … start?' from the memory lines in its system message."""
    messages = body["messages"]
    tool_results = [m for m in messages if m["role"] == "tool"]
    if tool_results:
        payload = orjson.loads(tool_results[-1]["content"])
        if not payload.get("ok"):
            return {
                "role": "assistant",
                "content": f"The tool failed: {payload['error']['type']}.",
            }
        project = payload["result"]["projects"][0]
        titles = "; ".join(task["title"] for task in project["new_tasks"])
        count = len(project["new_tasks"])
        return {
            "role": "assistant",
            "content": f"{project['name']} has {count} new tasks: {titles}. "
            f"Last updated {project['updated_at']}.",
        }
    question = messages[-1]["content"]
    tool_names = [t["function"]["name"] for t in body.get("tools") or []]
    projects_tool = next((name for name in tool_names if name.startswith("projects")), None)
    if projects_tool and re.search(r"project|проєкт", question, re.IGNORECASE):
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": projects_tool,
                        "arguments": orjson.dumps(
                            {"microdao_id": "microdao:daarion", "query": "X"}
                        ).decode(),
                    },
                }
            ],
        }
    match = re.search(r"when did (.+?) start", question, re.IGNORECASE)
    if match:
        subject = match.group(1).strip().lower()
        system = messages[0]["content"]
        for line in system.splitlines():
            if subject in line.lower() and "started" in line.lower():
                return {"role": "assistant", "content": f"From memory: {line.strip('- ')}"}
        return {"role": "assistant", "content": "I don't remember."}
    return {"role": "assistant", "content": "Noted."}
