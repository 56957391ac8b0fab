"""The retrieval eval as tests: floors on the default configuration (always), and the whole
table for every configured embedding route and a few fusion weights (`make eval`, EVAL=1).

The default configuration is the production one: daarion.server.settings' embedding model (not the
test settings' hashing embedder) and fusion weights, the routes of demo/registry.yaml. Encoding
is deterministic, so a quality floor is a fair assertion (no timing is asserted).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest
from django.test import Client

from daarion.server.demo import demo_registry_import
from memory.config import config_cache, global_embedding_model
from memory.embeddings import embedding_model_names
from memory.search import tenant_size_cache
from memory.services import memory_settings_set
from memory.spaces import space_cache
from tests.eval.harness import ask_set, eval_set, format_table, store_set
from tests.factories import AgentFactory, MicroDAOFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


def _production_settings():
    # The values daarion.server.settings computes from the environment, not the test overrides.
    return importlib.import_module("daarion.server.settings")


def _world(data: dict, model: str) -> None:
    demo_registry_import()
    for ids in data["microdaos"].values():
        microdao = MicroDAOFactory(id=ids["id"], name=ids["id"], shares_memory=False)
        AgentFactory(id=ids["agent"], microdao=microdao)
    memory_settings_set(microdao_id=None, embedding_model=model)
    for cache in (config_cache, space_cache, tenant_size_cache):
        cache.invalidate()


def _use_weights(vector: float | None, text: float | None) -> None:
    """Global fusion weights (None = the settings' defaults), keeping the global model."""
    memory_settings_set(
        microdao_id=None,
        embedding_model=global_embedding_model(),
        vector_weight=vector,
        text_weight=text,
    )


def test_default_configuration_meets_the_quality_floors(internal_headers, settings):
    production = _production_settings()
    settings.MEMORY_VECTOR_WEIGHT = production.MEMORY_VECTOR_WEIGHT
    settings.MEMORY_TEXT_WEIGHT = production.MEMORY_TEXT_WEIGHT
    data = eval_set()
    assert len(data["memories"]) >= 60 and len(data["questions"]) >= 60
    _world(data, production.MEMORY_DEFAULT_EMBEDDING_MODEL)
    client = Client(headers=internal_headers)
    store_set(client, data)
    scores = ask_set(client, data)
    table = format_table([(f"{production.MEMORY_DEFAULT_EMBEDDING_MODEL} (default)", scores)])
    sys.stdout.write("\n" + table + "\n")
    assert scores.leaks == 0
    assert scores.metrics("all")["r@5"] >= 0.90, table
    assert scores.metrics("cross-language")["r@5"] >= 0.85, table


# (vector weight, text weight) pairs tried on each route; None = the settings' defaults.
WEIGHTS = [(None, None), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.5), (1.0, 0.25), (1.0, 0.1)]


@pytest.mark.skipif(not os.environ.get("EVAL"), reason="the full table: `make eval`")
def test_eval_table_for_every_route(internal_headers, settings):
    production = _production_settings()
    settings.MEMORY_VECTOR_WEIGHT = production.MEMORY_VECTOR_WEIGHT
    settings.MEMORY_TEXT_WEIGHT = production.MEMORY_TEXT_WEIGHT
    data = eval_set()
    demo_registry_import()
    routes = embedding_model_names()
    rows = []
    for model in routes:
        # A fresh tenant pair per route keeps every route's vectors apart.
        suffix = model.replace(":", "-")
        routed = _renamed(data, suffix)
        _world(routed, model)
        client = Client(headers=internal_headers)
        store_set(client, routed)
        for vector, text in WEIGHTS:
            _use_weights(vector, text)
            label = (
                f"{model} w=default({settings.MEMORY_VECTOR_WEIGHT:g}/"
                f"{settings.MEMORY_TEXT_WEIGHT:g})"
                if vector is None
                else f"{model} w={vector:g}/{text:g}"
            )
            rows.append((label, ask_set(client, routed)))
        _use_weights(None, None)
    table = format_table(rows)
    sys.stdout.write("\n" + table + "\n")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retrieval_eval.txt").write_text(table + "\n", encoding="utf-8")


def _renamed(data: dict, suffix: str) -> dict:
    microdaos = {
        name: {"id": f"{ids['id']}-{suffix}", "agent": f"{ids['agent']}-{suffix}"}
        for name, ids in data["microdaos"].items()
    }
    return {**data, "microdaos": microdaos}
