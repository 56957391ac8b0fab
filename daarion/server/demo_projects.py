"""A stand-in for the projects service the seed tools call, for the demo only.

`make run` points PROJECTS_SERVICE_URL here (mounted at /demo/projects-service/ when
DEMO_PROJECTS_SERVICE is on, which defaults to DEBUG), so projects.list, task.create and
followup.create answer with demo/projects.json instead of a connection error. State lives in this
process and resets on restart. Production points PROJECTS_SERVICE_URL at the real service.

Toolcore's HTTP executor names the calling agent's microDAO in `X-DAARION-MicroDAO-ID`; when that
header is present the service shows and writes only that microDAO's projects, whatever the tool
arguments say (an agent must not reach another microDAO's projects by naming it; a missing
`microdao_id` argument means the header's). Direct callers without the header keep the old
behaviour (the `microdao_id` query parameter decides).
"""

from __future__ import annotations

import copy
import threading
import uuid

import orjson
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

_lock = threading.Lock()
_state: dict | None = None


def _projects() -> list[dict]:
    global _state
    if _state is None:
        data = orjson.loads((settings.BASE_DIR / "demo" / "projects.json").read_bytes())
        _state = {"projects": copy.deepcopy(data["projects"]), "followups": []}
    return _state["projects"]


def _caller_microdao(request: HttpRequest) -> str | None:
    return request.headers.get("X-DAARION-MicroDAO-ID")


def _visible(project: dict, caller: str | None) -> bool:
    return caller is None or project["microdao_id"] == caller


def _body(request: HttpRequest) -> dict | JsonResponse:
    try:
        body = orjson.loads(request.body or b"{}")
    except orjson.JSONDecodeError:
        return JsonResponse({"detail": "body must be JSON"}, status=400)
    return (
        body
        if isinstance(body, dict)
        else JsonResponse({"detail": "body must be an object"}, status=400)
    )


def _summary(project: dict) -> dict:
    new = [task for task in project["tasks"] if task["status"] == "new"]
    return {
        **{k: v for k, v in project.items() if k != "tasks"},
        "new_tasks": new,
        "task_count": len(project["tasks"]),
    }


@require_GET
def projects_list(request: HttpRequest) -> JsonResponse:
    caller = _caller_microdao(request)
    microdao_id = request.GET.get("microdao_id", "")
    if caller is not None:
        # The header bounds the argument: naming another microDAO shows nothing.
        microdao_id = microdao_id or caller
        if microdao_id != caller:
            return JsonResponse({"projects": []})
    query = request.GET.get("query", "").strip().lower()
    try:
        limit = max(1, min(50, int(request.GET.get("limit", "20"))))
    except ValueError:
        return JsonResponse({"detail": "limit must be an integer"}, status=400)
    with _lock:
        found = [
            _summary(p)
            for p in _projects()
            if p["microdao_id"] == microdao_id and (not query or query in p["name"].lower())
        ]
    return JsonResponse({"projects": found[:limit]})


@csrf_exempt
@require_POST
def task_create(request: HttpRequest, project_id: str) -> JsonResponse:
    body = _body(request)
    if isinstance(body, JsonResponse):
        return body
    with _lock:
        caller = _caller_microdao(request)
        project = next(
            (p for p in _projects() if p["id"] == project_id and _visible(p, caller)), None
        )
        if project is None:
            return JsonResponse({"detail": f"no project {project_id}"}, status=404)
        now = timezone.now().isoformat()
        task = {
            "id": f"t-{uuid.uuid4().hex[:6]}",
            "title": str(body.get("title", "")),
            "status": "new",
            "created_at": now,
            **{k: body[k] for k in ("description", "assignee", "due_date") if k in body},
        }
        project["tasks"].append(task)
        project["updated_at"] = now
    return JsonResponse({"task": task, "project_id": project_id}, status=201)


@csrf_exempt
@require_POST
def followup_create(request: HttpRequest) -> JsonResponse:
    body = _body(request)
    if isinstance(body, JsonResponse):
        return body
    caller = _caller_microdao(request)
    if caller is not None and body.get("project_id") is not None:
        with _lock:
            known = any(p["id"] == body["project_id"] and _visible(p, caller) for p in _projects())
        if not known:
            return JsonResponse({"detail": f"no project {body['project_id']}"}, status=404)
    followup = {
        "id": f"f-{uuid.uuid4().hex[:6]}",
        **{k: body.get(k) for k in ("project_id", "task_id", "text", "due_at")},
    }
    with _lock:
        _projects()
        _state["followups"].append(followup)  # type: ignore[index]
    return JsonResponse({"followup": followup}, status=201)


urlpatterns = [
    path("projects", projects_list),
    path("projects/<str:project_id>/tasks", task_create),
    path("followups", followup_create),
]
