"""Property tests of the input rules (daarion/common/input_rules.py) and the boundary over HTTP:
random nested JSON with NUL and lone surrogates is refused naming a path that really leads to
the bad value; clean JSON within the depth limit always passes."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daarion.common.input_rules import MAX_JSON_DEPTH, json_problem, text_problem

BAD = ["\x00", "\ud800", "\udfff", "\udc80"]
clean_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
any_text = st.text(st.characters()) | st.builds(
    lambda a, bad, b: a + bad + b, clean_text, st.sampled_from(BAD), clean_text
)


def _json(text):
    scalars = st.none() | st.booleans() | st.integers() | text
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4)
        ),
        max_leaves=20,
    )


def _has_bad(value) -> bool:
    if isinstance(value, str):
        return any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_has_bad(k) or _has_bad(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_bad(v) for v in value)
    return False


def _follow(value, path: str):
    """The value at `path` ("a.0.b"), walking dict keys and list indexes."""
    if path == "body":
        return value
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


@given(_json(any_text))
def test_bad_characters_are_found_wherever_they_are(value):
    problem = json_problem(value)
    assert (problem is not None) == _has_bad(value)


@given(_json(clean_text))
def test_clean_json_passes(value):
    assert json_problem(value) is None


@given(st.dictionaries(clean_text.filter(lambda k: k and "." not in k and not k.isdigit()),
                       _json(any_text), min_size=1, max_size=4))  # fmt: skip
def test_the_named_path_leads_to_the_bad_value(value):
    problem = json_problem(value)
    if problem is None:
        return
    path, what = problem
    if what.startswith("key"):
        return  # the key itself is bad; its path ends in it
    try:
        found = _follow(value, path)
    except (KeyError, IndexError, ValueError, TypeError):
        return  # a key containing "." or digits makes the path ambiguous; covered elsewhere
    assert isinstance(found, str) and text_problem(found)


@given(st.integers(min_value=1, max_value=300))
def test_depth_limit(depth):
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    problem = json_problem(value)
    assert (problem is not None) == (depth > MAX_JSON_DEPTH)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(metadata=st.dictionaries(clean_text, _json(any_text), max_size=3))
def test_the_api_never_answers_5xx_to_random_metadata(client, internal_headers, metadata):
    body = {"agent_id": "agent:none", "microdao_id": "microdao:none", "content": {"text": "x"},
            "metadata": metadata}  # fmt: skip
    raw = json.dumps(body).encode()  # ensure_ascii: lone surrogates travel as \\udXXX escapes
    response = client.post(
        "/internal/agent-memory/store", raw, content_type="application/json",
        headers=internal_headers,
    )  # fmt: skip
    assert response.status_code < 500
    assert response["Content-Type"].startswith("application/json")
    if _has_bad(body):
        assert response.status_code == 422 and response.json()["error"]["loc"]
