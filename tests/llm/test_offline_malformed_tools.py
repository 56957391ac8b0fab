"""Issue 10 #2: a malformed `tools` parameter on an offline route answers a clear 4xx JSON
through /v1/chat/completions and /internal/llm/proxy (naming the parameter), never a 500."""

from __future__ import annotations

import orjson
import pytest
from django.test import AsyncClient

from tests.factories import AgentFactory, make_service_token
from tests.llm.factories import OfflineProviderFactory, make_route
from tests.llm.helpers import db

pytestmark = pytest.mark.django_db(transaction=True)


def _nested(levels: int) -> dict:
    schema: dict = {"type": "object"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


def _function(**fields) -> dict:
    return {"type": "function", "function": {"name": "t", "description": "Tasks.", **fields}}


MALFORMED = {
    "not a list": {"tools": {"type": "function"}},
    "a string": {"tools": "projects"},
    "item not a dict": {"tools": ["projects"]},
    "item null": {"tools": [None]},
    "function not a dict": {"tools": [{"type": "function", "function": "t"}]},
    "function without name": {"tools": [{"type": "function", "function": {"description": "x"}}]},
    "name not a string": {"tools": [{"type": "function", "function": {"name": 5}}]},
    "parameters not an object": {"tools": [_function(parameters="object")]},
    "parameters a list": {"tools": [_function(parameters=[1, 2])]},
    "properties not an object": {"tools": [_function(parameters={"properties": [1]})]},
    "required not a list": {"tools": [_function(parameters={"required": "x"})]},
    "property schema not an object": {
        "tools": [_function(parameters={"properties": {"x": 5}, "required": ["x"]})]
    },
    "description not a string": {"tools": [_function(description={"a": 1})]},
    "deep nesting": {"tools": [_function(parameters=_nested(40))]},
    "enum not an array": {
        "tools": [
            _function(parameters={"properties": {"x": {"enum": {"a": 1}}}, "required": ["x"]})
        ],
        "tool_choice": "required",
    },
    "maxLength not a number": {
        "tools": [
            _function(
                parameters={"properties": {"query": {"maxLength": "5"}}, "required": ["query"]}
            )
        ],
        "tool_choice": "required",
    },
    "tool_choice names no tool": {
        "tools": [_function(parameters={"type": "object"})],
        "tool_choice": {"type": "function", "function": {"name": 7}},
    },
    "tool_choice not a dict or string": {
        "tools": [_function(parameters={"type": "object"})],
        "tool_choice": 5,
    },
}


@pytest.fixture
async def offline():
    agent = await db(AgentFactory)()
    await db(lambda: make_route("m", OfflineProviderFactory()))()
    _, raw = await db(make_service_token)(scopes=["llm"], agent=agent)
    return {"Authorization": f"Bearer {raw}"}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/internal/llm/proxy"])
@pytest.mark.parametrize("extra", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_tools_are_a_clear_4xx(offline, path, extra):
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "What's new in project X? microdao:x"}],
        **extra,
    }
    response = await AsyncClient().post(
        path, orjson.dumps(body), content_type="application/json", headers=offline
    )
    assert response.status_code in (400, 422), response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert "tool" in (error.get("param") or "") + error["message"]


async def test_well_formed_tools_still_work(offline):
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "What's new in project X?"}],
        "tools": [_function(parameters={"type": "object", "properties": {}})],
        "tool_choice": "auto",
    }
    response = await AsyncClient().post(
        "/v1/chat/completions", orjson.dumps(body), content_type="application/json", headers=offline
    )
    assert response.status_code == 200, response.content[:500]
