"""Issue 10 (input boundary): values that cannot be stored or rendered again — NUL, lone
surrogates, JSON nested too deep — are refused the same way in admin forms (a form error, never
a 500) and in the registry import (nothing written; the entry and field are named)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from daarion.agents.models import MicroDAO
from daarion.server.registry_io import RegistryError, registry_import
from tests.toolcore.test_admin import _formsets, _tool_form
from toolcore.models import Tool

pytestmark = pytest.mark.django_db


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def _deep_schema(levels: int) -> str:
    inner = "{}"
    for _ in range(levels):
        inner = '{"type": "object", "properties": {"x": ' + inner + "}}"
    return inner


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("input_schema", '{"type": "object", "description": "a\\u0000b"}', "NUL"),
        ("input_schema", '{"type": "object", "description": "a\\ud800b"}', "surrogate"),
        ("input_schema", '{"type": "object", "x\\u0000": 1}', "NUL"),
        ("input_schema", _deep_schema(70), "nested deeper"),
        ("output_schema", _deep(600), "nested deeper"),
        ("output_schema", _deep(5000), "nested"),
        ("headers", '{"X-A": "b\\u0000"}', "NUL"),
        ("description", "abc\x00def", "Null characters"),
    ],
)
def test_admin_tool_form_refuses_unstorable_values(admin_client, field, value, message):
    data = _tool_form(**{field: value})
    data.update(_formsets())
    response = admin_client.post(reverse("admin:toolcore_tool_add"), data)
    assert response.status_code == 200, response.content.decode()[:2000]
    assert message in response.content.decode()
    assert not Tool.objects.exists()


def test_values_made_by_a_clean_method_are_checked_too():
    from django import forms

    from daarion.common.storable_forms import storable_form

    class Form(forms.Form):
        name = forms.CharField()

        def clean_name(self):
            return {"decoded": self.cleaned_data["name"].replace("~", "\x00")}

    form = storable_form(Form)(data={"name": "a~b"})
    assert not form.is_valid()
    assert "NUL" in str(form.errors["name"])


def _registry_with_microdao(name: str) -> dict:
    return {"version": 1, "microdaos": [{"id": "microdao:x", "name": name}]}


@pytest.mark.parametrize(
    "name,message",
    [("bad\x00name", "NUL"), ("bad\udc00name", "surrogate")],
)
def test_registry_import_refuses_unstorable_text(name, message):
    with pytest.raises(RegistryError) as caught:
        registry_import(_registry_with_microdao(name))
    [problem] = [p for p in caught.value.problems if message in p]
    assert "microdaos[0]" in problem and "microdao:x" in problem and "name" in problem
    assert not MicroDAO.objects.filter(pk="microdao:x").exists()


def test_registry_import_refuses_deep_json():
    deep: list = []
    for _ in range(100):
        deep = [deep]
    data = {
        "version": 1,
        "tools": [
            {
                "tool_id": "t.deep",
                "executor": "python",
                "python_function": "x",
                "input_schema": {"type": "object", "default": deep},
            }
        ],
    }
    with pytest.raises(RegistryError) as caught:
        registry_import(data)
    assert any(
        "tools[0]" in p and "t.deep" in p and "nested deeper" in p for p in caught.value.problems
    ), caught.value.problems


def test_registry_import_command_exits_nonzero_naming_entry_and_field(tmp_path):
    path = tmp_path / "nul.yaml"
    path.write_text('version: 1\nmicrodaos:\n  - {id: "microdao:x", name: "a\\0b"}\n')
    with pytest.raises(CommandError) as caught:
        call_command("registry", "import", str(path), stdout=io.StringIO())
    assert "microdaos[0]" in str(caught.value) and "name" in str(caught.value)
    assert "NUL" in str(caught.value)
    assert not MicroDAO.objects.filter(pk="microdao:x").exists()
