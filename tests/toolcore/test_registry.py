"""Tool ids, schema checks, the OpenAI export, redaction, model validation, the demo seed."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError

from tests.toolcore.factories import call
from toolcore.ids import openai_name_for, validate_tool_id
from toolcore.models import Grant, Tool, ToolCall
from toolcore.schema import (
    input_schema_problems,
    redact,
    schema_problems,
    strip_optional_nulls,
    to_openai_parameters,
)
from toolcore.selectors import tools_for_agent


def test_openai_names():
    assert openai_name_for("projects.list") == "projects__list"
    assert openai_name_for("time_now") == "time_now"


@pytest.mark.parametrize("bad", ["", "a b", "a..b", ".a", "a.", "ä", "x" * 65, "a." * 22 + "a"])
def test_invalid_tool_ids(bad):
    with pytest.raises(ValidationError):
        validate_tool_id(bad)


def test_schema_checks():
    assert schema_problems({"type": "object"}) == []
    assert "Invalid JSON Schema" in schema_problems({"type": "strng"})[0]
    assert "2020-12" in schema_problems({"$schema": "http://json-schema.org/draft-07/schema#"})[0]
    assert "object" in input_schema_problems({"type": "string"})[0]
    assert schema_problems([1])


def test_openai_export_strict():
    schema = {
        "type": "object",
        "title": "ignored",
        "properties": {
            "a": {"type": "string", "minLength": 2},
            "b": {
                "type": "object",
                "properties": {"c": {"type": "integer"}, "d": {"$ref": "#/$defs/D"}},
                "required": ["c"],
            },
            "e": {"type": "array", "items": {"type": "string", "enum": ["x"]}},
        },
        "required": ["a"],
        "$defs": {"D": {"type": "string"}},
    }
    parameters, strict = to_openai_parameters(schema)
    assert strict
    assert parameters["required"] == ["a", "b", "e"] and parameters["additionalProperties"] is False
    assert "title" not in parameters and "minLength" not in parameters["properties"]["a"]
    nested = parameters["properties"]["b"]
    assert nested["type"] == ["object", "null"] and nested["additionalProperties"] is False
    assert nested["required"] == ["c", "d"]
    assert nested["properties"]["d"] == {"anyOf": [{"$ref": "#/$defs/D"}, {"type": "null"}]}
    assert schema["properties"]["a"] == {"type": "string", "minLength": 2}  # input untouched


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
    ],
)
def test_openai_export_falls_back_to_non_strict(schema):
    parameters, strict = to_openai_parameters(schema)
    assert not strict and parameters == schema


def test_strip_optional_nulls():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": ["string", "null"]},
            "n": {"type": "object", "properties": {"x": {"type": "string"}}},
        },
        "required": ["b"],
    }
    value = {"a": None, "b": None, "n": {"x": None}, "extra": None}
    assert strip_optional_nulls(schema, value) == {"b": None, "n": {}, "extra": None}


def test_redact():
    schema = {"type": "object", "properties": {"pin": {"type": "string", "writeOnly": True}}}
    value = {
        "password": "p",
        "pin": "1234",
        "nested": [{"apiKey": "k", "note": "has s3cr3t-value"}],
    }
    assert redact(value, schema=schema, secrets=("s3cr3t-value",)) == {
        "password": "[redacted]",
        "pin": "[redacted]",
        "nested": [{"apiKey": "[redacted]", "note": "has [redacted]"}],
    }


@pytest.mark.django_db
def test_ids_that_map_to_the_same_name_cannot_coexist():
    from toolcore.services import tool_upsert

    common = {"description": "d", "input_schema": {"type": "object"}, "executor": "python"}
    tool_upsert(tool_id="a.b", python_function="time_now", **common)
    clash = Tool(tool_id="a__b", python_function="time_now", **common)
    with pytest.raises(ValidationError, match=r"openai name|already exists"):
        clash.full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields,field",
    [
        ({"url_template": "ftp://x/y"}, "url_template"),
        ({"url_template": "http://user:pw@x/y"}, "url_template"),
        ({"url_template": "http://x/{undeclared}"}, "url_template"),
        ({"url_template": "http://x/{q}"}, "url_template"),  # optional placeholder
        ({"headers": {"Host": "evil"}}, "headers"),
        ({"headers": {"X": 1}}, "headers"),
        ({"headers": {"Authorization": "Bearer plain"}}, "headers"),
        ({"headers": {"X-Api-Key": "plain"}}, "headers"),
        ({"input_schema": {"type": "array"}}, "input_schema"),
        ({"output_schema": {"type": 3}}, "output_schema"),
        ({"executor": "python", "python_function": "os.system"}, "python_function"),
    ],
)
def test_tool_validation(fields, field):
    tool = Tool(
        tool_id="t",
        description="d",
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}},
        executor="http",
        http_method="GET",
        url_template="http://x/y",
    )
    for name, value in fields.items():
        setattr(tool, name, value)
    with pytest.raises(ValidationError) as excinfo:
        tool.full_clean()
    assert field in excinfo.value.message_dict


@pytest.mark.django_db
def test_demo_registry_tools_are_idempotent_and_granted_to_sofia(settings):
    from daarion.agents.models import Agent
    from daarion.server.demo import demo_registry_import
    from tests.fakes.server import free_port

    settings.PROJECTS_SERVICE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    demo_registry_import()
    demo_registry_import()
    sofia = Agent.objects.get(pk="agent:sofia")
    assert Tool.objects.count() == Grant.objects.filter(agent=sofia).count() >= 5
    assert all(tool.version == 1 for tool in Tool.objects.all())
    listed = async_to_sync(tools_for_agent)(agent_id=sofia.id, fmt="openai")
    seeded = {"projects__list", "task__create", "followup__create", "time_now", "whoami"}
    assert {t["function"]["name"] for t in listed} >= seeded
    assert all(t["function"]["strict"] for t in listed if t["function"]["name"] in seeded)
    assert call(sofia, "time_now").ok
    # No projects service runs in the demo: a typed upstream_error, and an audit row.
    outcome = call(sofia, "projects.list", {"microdao_id": "microdao:daarion"})
    assert outcome.error.type == "upstream_error"
    assert outcome.error.details["reason"] == "connection_failed"
    assert ToolCall.objects.filter(outcome="upstream_error").count() == 1


@pytest.mark.django_db
def test_registry_export_and_import_round_trip():
    from daarion.server.demo import demo_registry_import
    from toolcore.selectors import tool_registry_export
    from toolcore.services import (
        tool_definition_problems,
        tool_grant,
        tool_import,
        tool_secret_headers_set,
    )

    demo_registry_import()
    Grant.objects.all().delete()
    tool_grant(agent_id="agent:sofia", tool_id="time_now")
    listed = Tool.objects.get(tool_id="projects.list")
    tool_secret_headers_set(tool=listed, headers={"Authorization": "Bearer export-secret-1"})
    exported = tool_registry_export()
    assert "export-secret-1" not in repr(exported)
    projects = next(t for t in exported["tools"] if t["tool_id"] == "projects.list")
    assert projects["secret_header_names"] == ["Authorization"]
    assert exported["grants"] == [{"agent_id": "agent:sofia", "tool_id": "time_now"}]
    for definition in exported["tools"]:
        assert tool_definition_problems(definition=definition) == {}
        tool_import(definition=definition)
    assert Tool.objects.count() == len(exported["tools"])
    assert all(t.version == 1 for t in Tool.objects.all())
    assert listed.secret_headers.get().value == "Bearer export-secret-1"  # kept
    bad = {**projects, "input_schema": {"type": "nope"}, "colour": 1}
    assert "Unknown keys: colour." in tool_definition_problems(definition=bad)["__all__"]
    del bad["colour"]
    assert "input_schema" in tool_definition_problems(definition=bad)


def test_openai_export_limits():
    from toolcore.schema import MAX_STRICT_DEPTH, MAX_STRICT_PROPERTIES

    wide = {
        "type": "object",
        "properties": {f"p{i}": {"type": "string"} for i in range(MAX_STRICT_PROPERTIES + 1)},
    }
    assert to_openai_parameters(wide)[1] is False
    deep: dict = {"type": "object", "properties": {"leaf": {"type": "string"}}}
    for _ in range(MAX_STRICT_DEPTH):
        deep = {"type": "object", "properties": {"child": deep}}
    assert to_openai_parameters(deep)[1] is False
    shallow = {"type": "object", "properties": {"u": {"type": "string", "format": "uri"}}}
    parameters, strict = to_openai_parameters(shallow)
    assert strict and "format" not in parameters["properties"]["u"]
    dated = {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}
    assert to_openai_parameters(dated)[0]["properties"]["d"]["format"] == "date"


@pytest.mark.django_db(transaction=True)  # readiness checks run on their own connections
def test_readiness_reports_the_tool_registry(client):
    from toolcore.registry import python_tool, python_tool_unregister
    from toolcore.services import python_tool_install

    python_tool(name="t_vanishing", description="x", input_schema={"type": "object"})(lambda ctx: 1)
    python_tool_install(function_name="t_vanishing")
    python_tool_install(function_name="time_now")
    python_tool_unregister("t_vanishing")
    body = client.get("/internal/health").json()
    tools = body["checks"]["tools"]
    assert tools["ok"] is True and tools["enabled"] == 2
    assert tools["unavailable"] == ["t_vanishing"]
