"""The client-compatibility suite: real OpenAI clients against our /v1 over real HTTP.

One gateway (uvicorn in a thread of this process, so it shares the test database) and one
scripted upstream per module; each test gets fresh routes and a service token bound to an
agent. Nothing leaves 127.0.0.1: litellm reads its bundled cost map, Agents SDK tracing is off,
and tiktoken reads the cl100k_base BPE file litellm ships.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.clients.scripted_upstream import scripted_upstream
from tests.factories import AgentFactory, make_service_token
from tests.llm.conftest import _fast_retries, live_server_url  # noqa: F401
from tests.llm.factories import ProviderFactory, make_route

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

CHAT_MODEL = "scripted-chat"
EMBEDDING_MODEL = "text-embedding-3-small"  # a name tiktoken knows, as LangChain's default does


def bundled_tiktoken_dir() -> str:
    """litellm's copy of tiktoken's cl100k_base file (tiktoken itself downloads it)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return ""
    path = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return str(path) if path.is_dir() else ""


TIKTOKEN_DIR = bundled_tiktoken_dir()
if TIKTOKEN_DIR:
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", TIKTOKEN_DIR)


def client_module(name: str):
    """Import a client package, or skip the module saying why (only when it cannot install)."""
    return pytest.importorskip(
        name, reason=f"{name} is not installed (pip install -r requirements-dev.txt)"
    )


@pytest.fixture(scope="module")
def upstream():
    with scripted_upstream() as (url, state):
        yield SimpleNamespace(url=url, state=state)


@pytest.fixture
def gateway(live_server_url, upstream, settings):  # noqa: F811
    settings.LLM_TIKTOKEN_DIR = TIKTOKEN_DIR
    upstream.state.requests.clear()
    scripted = ProviderFactory(name="scripted", base_url=upstream.url)
    make_route(CHAT_MODEL, scripted, physical_model="gpt-scripted")
    make_route(
        EMBEDDING_MODEL, scripted, kind="embedding", physical_model="emb-scripted", dimensions=8
    )
    agent = AgentFactory()
    _, key = make_service_token(scopes=["llm"], agent=agent)
    return SimpleNamespace(
        base_url=f"{live_server_url}/v1",
        upstream_url=upstream.url,
        api_key=key,
        chat=CHAT_MODEL,
        embedding=EMBEDDING_MODEL,
        agent=agent,
        state=upstream.state,
    )
