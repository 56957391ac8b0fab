"""The demo's stand-in projects service, reached the real way: toolcore's HTTP executor over a
socket to the app served by a live server."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from daarion.server import demo_projects
from daarion.server.demo import DEMO_REGISTRY
from daarion.server.registry_io import registry_import, registry_load_yaml
from toolcore.selectors import registry_cache
from toolcore.services import tool_call

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_registry(live_server, settings):
    settings.PROJECTS_SERVICE_URL = f"{live_server.url}/demo/projects-service"
    settings.TOOLCORE_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]  # live_server binds localhost
    demo_projects._state = None
    registry_import(registry_load_yaml(DEMO_REGISTRY.read_text(encoding="utf-8")))
    registry_cache.invalidate()
    yield
    demo_projects._state = None
    registry_cache.invalidate()


def _call(tool_id: str, args: dict):
    return async_to_sync(tool_call)(agent_id="agent:sofia", tool_id=tool_id, args=args)


def test_projects_list_answers_with_project_x(demo_registry):
    outcome = _call("projects.list", {"microdao_id": "microdao:daarion", "query": "x"})
    assert outcome.ok, outcome.error
    (project,) = outcome.result["projects"]
    assert project["name"] == "Project X"
    assert [t["title"] for t in project["new_tasks"]] == [
        "Draft the token model",
        "Review the treasury proposal",
        "Schedule the community call",
    ]
    assert project["updated_at"] == "2026-11-20T16:45:00Z"


def test_other_microdaos_see_nothing(demo_registry):
    outcome = _call("projects.list", {"microdao_id": "microdao:other"})
    assert outcome.ok and outcome.result == {"projects": []}


def test_task_create_then_listed(demo_registry):
    created = _call("task.create", {"project_id": "proj-x", "title": "Write the FAQ"})
    assert created.ok, created.error
    listed = _call("projects.list", {"microdao_id": "microdao:daarion", "query": "Project X"})
    assert "Write the FAQ" in [t["title"] for t in listed.result["projects"][0]["new_tasks"]]
    missing = _call("task.create", {"project_id": "nope", "title": "x"})
    assert not missing.ok and missing.error.type == "upstream_error"


def test_bad_bodies_are_400(client):
    response = client.post(
        "/demo/projects-service/followups", b"not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert client.get("/demo/projects-service/projects?limit=abc").status_code == 400


def _scoped(client, microdao_id: str, method: str, url: str, body: dict | None = None):
    headers = {"X-DAARION-MicroDAO-ID": microdao_id}
    if method == "get":
        return client.get(f"/demo/projects-service/{url}", headers=headers)
    return client.post(
        f"/demo/projects-service/{url}",
        body or {},
        content_type="application/json",
        headers=headers,
    )


def test_toolcore_header_keeps_agents_out_of_other_microdaos(demo_registry):
    # hand Project X to another microDAO: sofia (microdao:daarion) must no longer reach it,
    # whatever she names in the arguments
    demo_projects._projects()[0]["microdao_id"] = "microdao:other"
    listed = _call("projects.list", {"microdao_id": "microdao:other"})
    assert listed.ok and listed.result == {"projects": []}
    own = _call("projects.list", {"microdao_id": "microdao:daarion"})
    assert [p["id"] for p in own.result["projects"]] == ["proj-phase3"]
    created = _call("task.create", {"project_id": "proj-x", "title": "Sneak in"})
    assert not created.ok and created.error.type == "upstream_error"
    assert "Sneak in" not in [t["title"] for t in demo_projects._projects()[0]["tasks"]]


def test_header_bounds_list_and_writes(client, demo_registry):
    own = _scoped(client, "microdao:daarion", "get", "projects")
    assert [p["id"] for p in own.json()["projects"]] == ["proj-x", "proj-phase3"]
    # naming another microDAO under the header shows nothing
    other = _scoped(client, "microdao:daarion", "get", "projects?microdao_id=microdao:other")
    assert other.json() == {"projects": []}
    # an unknown microDAO sees none and cannot write to another's project
    assert _scoped(client, "microdao:unknown", "get", "projects").json() == {"projects": []}
    denied = _scoped(client, "microdao:unknown", "post", "projects/proj-x/tasks", {"title": "x"})
    assert denied.status_code == 404
    followup = {"project_id": "proj-x", "text": "ping"}
    assert _scoped(client, "microdao:unknown", "post", "followups", followup).status_code == 404
    # the owner can
    created = _scoped(client, "microdao:daarion", "post", "projects/proj-x/tasks", {"title": "y"})
    assert created.status_code == 201
    assert _scoped(client, "microdao:daarion", "post", "followups", followup).status_code == 201
    # without the header, direct callers keep today's behaviour
    plain = client.get("/demo/projects-service/projects?microdao_id=microdao:daarion")
    assert len(plain.json()["projects"]) == 2
    assert client.get("/demo/projects-service/projects").json() == {"projects": []}
