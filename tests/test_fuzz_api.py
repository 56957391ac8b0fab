"""The fuzz stage: schemathesis against both OpenAPI schemas (/internal and /v1).

A real uvicorn process on 127.0.0.1 serves the demo registry (offline LLM provider); every
operation gets FUZZ_EXAMPLES positive and as many negative (schema-violating) cases, generated
deterministically (hypothesis derandomize = a fixed seed), strings including NUL, and JSON
bodies sometimes carrying a lone UTF-16 surrogate. Fails on any 5xx or non-JSON body. Part of
`make test`, so `.ci/run` runs it; bounded to a few minutes on 2 cores.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from daarion.server.api import internal_api, openai_api
from daarion.server.demo import demo_registry_import
from tests.factories import make_service_token
from tests.fakes.server import run_app_server
from tests.llm.conftest import redis_url, server_env  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
SURROGATE = "\udc80"


def _with_surrogate(body: Any) -> Any:
    """`body` with a lone surrogate appended to its first string (keys included)."""
    if isinstance(body, str):
        return body + SURROGATE
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, (str, dict, list)) and value:
                return {**body, key: _with_surrogate(value)}
        return {**body, f"k{SURROGATE}": 1}
    if isinstance(body, list) and body:
        return [_with_surrogate(body[0]), *body[1:]]
    return body


def _schemas() -> list[tuple[str, dict]]:
    return [
        ("/internal", internal_api.get_openapi_schema(path_prefix="")),
        ("/v1", openai_api.get_openapi_schema(path_prefix="")),
    ]


def _fuzz_operation(operation, base_url: str, headers: dict, tally: Counter, bad: list) -> None:
    session = requests.Session()
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))

    @settings(
        max_examples=FUZZ_EXAMPLES * 2,
        derandomize=True,  # a fixed seed: the same cases on every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are collected
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, surrogate=st.booleans())
    def run(case, surrogate: bool) -> None:
        if (
            surrogate
            and isinstance(case.body, (dict, list, str))
            and "json" in str(case.media_type)
        ):
            case.body = _with_surrogate(case.body)
        try:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        except (UnicodeError, ValueError):
            return  # the client cannot even encode it (e.g. a surrogate in a header)
        tally["requests"] += 1
        status = response.status_code
        content_type = (response.headers.get("content-type") or [""])[0]
        is_json = content_type.startswith("application/json")
        if status >= 500 or (not is_json and status != 204):
            tally["5xx" if status >= 500 else "non_json"] += 1
            bad.append(f"{operation.label} → {status}: {response.text[:200]!r}")

    run()


def test_fuzz_both_apis_no_5xx_and_always_json(server_env):  # noqa: F811
    demo_registry_import()
    _, token = make_service_token()
    headers = {"Authorization": f"Bearer {token}"}
    tally: Counter = Counter()
    bad: list[str] = []
    with run_app_server(server_env) as url:
        for prefix, raw in _schemas():
            schema = schemathesis.openapi.from_dict(raw)
            for result in schema.get_all_operations():
                _fuzz_operation(result.ok(), url + prefix, headers, tally, bad)
    print(f"fuzz: {dict(tally)}")  # the count the report quotes (run with -s)
    assert tally["requests"] >= 18 * FUZZ_EXAMPLES // 2
    assert not bad, f"{len(bad)} bad answers of {tally['requests']}:\n" + "\n".join(bad[:40])
