"""Registry as code: export, validated import, idempotency, env references, no secrets."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import CommandError, call_command

from daarion.agents.models import Agent, MicroDAO
from daarion.server.demo import DEMO_REGISTRY
from daarion.server.registry_io import (
    RegistryError,
    registry_export,
    registry_import,
    registry_load_yaml,
)
from llm.models import ModelRoute, Provider, ProviderKey, RouteTarget
from toolcore.models import Grant, Tool

pytestmark = pytest.mark.django_db


def _demo() -> dict:
    return registry_load_yaml(DEMO_REGISTRY.read_text(encoding="utf-8"))


def _counts() -> dict[str, int]:
    models = (MicroDAO, Agent, Provider, ProviderKey, ModelRoute, RouteTarget, Tool, Grant)
    return {model.__name__: model.objects.count() for model in models}


def test_demo_registry_imports_and_is_idempotent(monkeypatch):
    for name in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "OLLAMA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    summary = registry_import(_demo())
    assert summary.skipped_providers == ["openai", "deepseek", "ollama"]
    first_export, first_counts = registry_export(), _counts()
    registry_import(_demo())
    assert registry_export() == first_export
    assert _counts() == first_counts
    sofia = Agent.objects.get(pk="agent:sofia")
    assert sofia.microdao_id == "microdao:daarion" and sofia.default_model == "sofia-default"
    targets = RouteTarget.objects.filter(route__name="sofia-default")
    assert [t.provider.name for t in targets] == ["offline"]
    assert set(Grant.objects.filter(agent=sofia).values_list("tool__tool_id", flat=True)) == {
        "projects.list",
        "task.create",
        "followup.create",
        "time_now",
        "whoami",
    }


def test_env_references_and_keys_from_env(monkeypatch, settings):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-abcdefghijklmnop")
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:11434")
    monkeypatch.delenv("OLLAMA_MODEL", raising=False)
    settings.PROJECTS_SERVICE_URL = "http://127.0.0.1:7999"
    registry_import(_demo())
    targets = RouteTarget.objects.filter(route__name="sofia-default").select_related("provider")
    assert [(t.provider.name, t.physical_model) for t in targets] == [
        ("openai", "gpt-4.1-mini"),
        ("ollama", "llama3.2"),
        ("offline", "offline-chat"),
    ]
    assert Provider.objects.get(name="ollama").base_url == "http://127.0.0.1:11434/v1"
    assert ProviderKey.objects.get(provider__name="openai").secret == "sk-from-env-abcdefghijklmnop"
    assert (
        Tool.objects.get(tool_id="projects.list").url_template == "http://127.0.0.1:7999/projects"
    )
    exported = yaml.safe_dump(registry_export())
    assert "sk-from-env" not in exported


def test_export_round_trips_into_an_empty_registry(monkeypatch):
    registry_import(_demo())
    exported = registry_export()
    text = io.StringIO()
    call_command("registry", "export", "-", stdout=text)
    assert yaml.safe_load(text.getvalue()) == yaml.safe_load(yaml.safe_dump(exported))
    Grant.objects.all().delete()
    Tool.objects.all().delete()
    RouteTarget.objects.all().delete()
    ModelRoute.objects.all().delete()
    Provider.objects.all().delete()
    Agent.objects.all().delete()
    MicroDAO.objects.all().delete()
    registry_import(yaml.safe_load(text.getvalue()))
    assert registry_export() == exported


def test_a_disabled_route_stays_disabled_through_import_and_export(monkeypatch):
    registry = _demo()
    route = next(r for r in registry["routes"] if r["name"] == "sofia-default")
    route["enabled"] = False
    registry_import(registry)
    assert ModelRoute.objects.get(name="sofia-default").enabled is False
    exported = registry_export()
    assert next(r for r in exported["routes"] if r["name"] == "sofia-default")["enabled"] is False
    registry_import(exported)
    assert ModelRoute.objects.get(name="sofia-default").enabled is False


def test_invalid_file_writes_nothing_and_names_every_problem():
    before = _counts()
    bad = {
        "version": 1,
        "microdaos": [
            {"id": "microdao:ok", "name": "OK"},
            {"id": "not-a-microdao-id", "name": "Bad"},
        ],
        "agents": [
            {
                "id": "agent:a",
                "microdao": "microdao:ok",
                "display_name": "A",
                "rate_limit": "ten a minute",
            },
            {"id": "agent:b", "microdao": "microdao:missing", "display_name": "B"},
        ],
        "providers": [{"name": "p", "kind": "teleport", "base_url": ""}],
        "routes": [
            {"name": "r", "kind": "chat", "targets": [{"provider": "ghost", "physical_model": "m"}]}
        ],
        "tools": [
            {
                "tool_id": "bad tool",
                "description": "x",
                "input_schema": {"type": "nonsense"},
                "executor": "http",
            }
        ],
        "grants": [{"agent_id": "agent:a", "tool_id": "nope"}],
        "surprise": [],
    }
    with pytest.raises(RegistryError) as info:
        registry_import(bad)
    problems = "\n".join(info.value.problems)
    for expected in (
        "file: unknown keys surprise",
        "microdaos[1].id",
        "agents[0].rate_limit",
        "agents[1].microdao: unknown microDAO 'microdao:missing'",
        "providers[0].kind",
        "routes[0].targets[0].provider: unknown provider 'ghost'",
        "tools[0]",
        "grants[0].tool_id: unknown tool 'nope'",
    ):
        assert expected in problems
    assert _counts() == before


def test_unset_env_reference_is_a_problem(monkeypatch):
    monkeypatch.delenv("DAARION_TEST_UNSET", raising=False)
    data = {"microdaos": [{"id": "microdao:x", "name": "${DAARION_TEST_UNSET}"}]}
    with pytest.raises(RegistryError, match="problem"):
        registry_import(data)
    data = {"microdaos": [{"id": "microdao:x", "name": "${DAARION_TEST_UNSET:-Fallback}"}]}
    registry_import(data)
    assert MicroDAO.objects.get(pk="microdao:x").name == "Fallback"


def test_command_reports_problems_and_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("agents:\n  - {id: 'agent:z', microdao: 'microdao:none', display_name: Z}\n")
    with pytest.raises(CommandError, match="unknown microDAO"):
        call_command("registry", "import", str(path), stdout=io.StringIO())
    out = io.StringIO()
    call_command("registry", "import", str(DEMO_REGISTRY), "--dry-run", stdout=out)
    assert "dry run" in out.getvalue()
    assert not Agent.objects.filter(pk="agent:sofia").exists()
    path.write_text(": not yaml : [")
    with pytest.raises(CommandError, match="not valid YAML"):
        call_command("registry", "import", str(path), stdout=io.StringIO())
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("registry", "import", str(tmp_path / "missing.yaml"), stdout=io.StringIO())
