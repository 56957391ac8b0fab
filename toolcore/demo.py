"""Demo seed (DAARION_DEMO_SEEDERS): the old toolcore's tools plus the offline built-ins, granted
to agent:sofia. Idempotent. The projects tools point at PROJECTS_SERVICE_URL; with no such
service running they answer a typed upstream_error ("could not reach the tool service")."""

from __future__ import annotations

from typing import TextIO

from django.conf import settings

from toolcore.models import Executor
from toolcore.registry import python_tool_get
from toolcore.services import python_tool_install, tool_grant_many, tool_upsert

DEMO_AGENT = "agent:sofia"
OPTIONAL_PYTHON_TOOLS = ("memory_search",)
_ID = {"type": "string", "minLength": 1, "maxLength": 128}


def seed_tools() -> list[str]:
    """Register the seed tools; returns their ids."""
    base = settings.PROJECTS_SERVICE_URL
    tool_upsert(
        tool_id="projects.list",
        description=(
            "List the projects of a microDAO with their latest tasks and when each was last "
            "updated. Use it for questions such as 'what's new in project X?'."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "microdao_id": {**_ID, "description": "e.g. 'microdao:daarion'"},
                "query": {"type": "string", "description": "Filter by project name."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50},
            },
            "required": ["microdao_id"],
            "additionalProperties": False,
        },
        executor=Executor.HTTP,
        http_method="GET",
        url_template=f"{base}/projects",
        timeout_seconds=5.0,
        retries=1,
    )
    tool_upsert(
        tool_id="task.create",
        description="Create a task in a project. Returns the new task.",
        input_schema={
            "type": "object",
            "properties": {
                "project_id": _ID,
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": "string", "maxLength": 4000},
                "assignee": {"type": "string", "maxLength": 128},
                "due_date": {"type": "string", "format": "date", "description": "YYYY-MM-DD"},
            },
            "required": ["project_id", "title"],
            "additionalProperties": False,
        },
        executor=Executor.HTTP,
        http_method="POST",
        url_template=f"{base}/projects/{{project_id}}/tasks",
        timeout_seconds=5.0,
    )
    tool_upsert(
        tool_id="followup.create",
        description="Schedule a follow-up reminder about a task or project.",
        input_schema={
            "type": "object",
            "properties": {
                "project_id": _ID,
                "task_id": _ID,
                "text": {"type": "string", "minLength": 1, "maxLength": 2000},
                "due_at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "ISO 8601, e.g. 2025-06-01T09:00:00Z",
                },
            },
            "required": ["project_id", "text"],
            "additionalProperties": False,
        },
        executor=Executor.HTTP,
        http_method="POST",
        url_template=f"{base}/followups",
        timeout_seconds=5.0,
    )
    python_tool_install(function_name="time_now")
    python_tool_install(function_name="whoami")
    tool_ids = ["projects.list", "task.create", "followup.create", "time_now", "whoami"]
    # Tools other apps register with @python_tool, seeded when that app is installed (toolcore
    # never imports them).
    for name in OPTIONAL_PYTHON_TOOLS:
        if python_tool_get(name) is not None:
            python_tool_install(function_name=name)
            tool_ids.append(name)
    return tool_ids


def seed_demo(*, stdout: TextIO) -> None:
    tool_ids = seed_tools()
    tool_grant_many(agent_id=DEMO_AGENT, tool_ids=tool_ids)
    stdout.write(f"Tools ready and granted to {DEMO_AGENT}: {', '.join(tool_ids)}.\n")
