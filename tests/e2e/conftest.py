"""The whole platform wired together: a scripted LLM upstream, a projects service, Sofia."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llm.breaker import breaker
from llm.models import ProviderKind
from llm.registry import registry_invalidate
from llm.usage import usage_flush
from memory.config import config_cache
from memory.spaces import space_cache
from tests.e2e.fakes import ProjectsService, ScriptedLLM
from tests.factories import AgentFactory, MicroDAOFactory
from tests.fakes.server import serve_aiohttp
from tests.llm.factories import ProviderFactory, make_route
from tests.memory.factories import make_offline_embed_route
from toolcore.demo import seed_tools
from toolcore.selectors import registry_cache as tool_registry_cache
from toolcore.services import tool_grant_many


@pytest.fixture
def scripted_llm():
    llm = ScriptedLLM()
    with serve_aiohttp(llm.app()) as url:
        llm.url = url
        yield llm


@pytest.fixture
def projects_service():
    service = ProjectsService()
    with serve_aiohttp(service.app()) as url:
        service.url = url
        yield service


def _reset_caches() -> None:
    registry_invalidate()
    tool_registry_cache.invalidate()
    config_cache.invalidate()
    space_cache.invalidate()
    breaker.reset()


@pytest.fixture
def sofia_world(transactional_db, settings, scripted_llm, projects_service):
    """microdao:daarion with Sofia, her chat route to the scripted LLM, the seed tools granted
    (pointing at the local projects service) and the offline embedder for memory."""
    settings.LLM_RETRY_BACKOFF_SECONDS = 0.01
    settings.PROJECTS_SERVICE_URL = projects_service.url
    microdao = MicroDAOFactory(id="microdao:daarion", name="DAARION")
    sofia = AgentFactory(
        id="agent:sofia",
        microdao=microdao,
        display_name="Sofia",
        system_prompt="You are Sofia.",
        default_model="sofia-default",
        rate_limit="1000/m",
    )
    upstream = ProviderFactory(
        name="scripted", kind=ProviderKind.OPENAI_COMPATIBLE, base_url=f"{scripted_llm.url}/v1"
    )
    make_route(
        "sofia-default",
        upstream,
        physical_model="scripted-1",
        input_price_per_1m=Decimal("2.00"),
        output_price_per_1m=Decimal("8.00"),
    )
    make_offline_embed_route()
    tool_grant_many(agent_id=sofia.id, tool_ids=seed_tools())
    _reset_caches()
    yield {"microdao": microdao, "sofia": sofia}
    usage_flush()
    _reset_caches()


@pytest.fixture(autouse=True, scope="session")
def _close_async_thread_connections(django_db_setup, django_db_blocker):
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)
