"""Fixtures of the facts tests: a scripted extraction upstream on the real gateway."""

from __future__ import annotations

import pytest

from memory.facts.config import facts_config_cache
from tests.memory.facts.scripted_upstream import ScriptedUpstream
from tests.memory.facts.support import make_extract_route


@pytest.fixture(autouse=True)
def _fresh_facts_config(settings):
    settings.MEMORY_FACTS_BACKOFF_SECONDS = 0.5
    settings.LLM_RETRY_BACKOFF_SECONDS = 0.01
    settings.LLM_RETRIES_PER_TARGET = 0
    facts_config_cache.invalidate()
    yield
    facts_config_cache.invalidate()


@pytest.fixture
def upstream():
    scripted = ScriptedUpstream()
    with scripted.serve() as base_url:
        scripted.base_url = base_url
        yield scripted


@pytest.fixture
def extract_route(tenants, upstream):
    return make_extract_route(upstream.base_url)


@pytest.fixture
def admin_client(tenants):
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "", "pw"))
    return client
