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
