"""Helpers of the facts tests and eval: the extraction route, a store, a worker run."""

from __future__ import annotations

import datetime as dt

from asgiref.sync import async_to_sync

from llm.models import ModelRoute, Provider, ProviderKind, RouteKind
from llm.registry import registry_invalidate
from memory.facts.config import facts_config_cache
from memory.facts.dispatch import facts_dispatch_flush

ROUTE = "memory-extract"


def make_extract_route(base_url: str, *, name: str = ROUTE) -> ModelRoute:
    provider, _ = Provider.objects.update_or_create(
        name="scripted-llm",
        defaults={
            "kind": ProviderKind.OPENAI_COMPATIBLE,
            "base_url": base_url,
            "timeout_seconds": 5.0,
        },
    )
    route, _ = ModelRoute.objects.get_or_create(name=name, kind=RouteKind.CHAT)
    route.targets.get_or_create(provider=provider, defaults={"physical_model": "scripted"})
    registry_invalidate()
    facts_config_cache.invalidate()
    return route


def store(agent_id: str, microdao_id: str, text: str, *, at: dt.datetime | None = None) -> int:
    """Store an exchange like the API does; `at` back-dates it (and so its facts' validity)."""
    from memory.models import Memory
    from memory.services import memory_store

    result = async_to_sync(memory_store)(
        agent_id=agent_id,
        microdao_id=microdao_id,
        channel_id="facts",
        user_message=text,
        agent_reply=None,
    )
    memory_id = int(result.ids[0])
    facts_dispatch_flush()  # its extraction job is queued (off the store's path) by now
    if at is not None:
        Memory.objects.filter(pk=memory_id).update(created_at=at)
    return memory_id


def run_worker(*, worker_id: str = "test-worker", max_tasks: int | None = None) -> None:
    """Process every ready job of the database queue in this thread, then return."""
    from django_tasks_db.management.commands.db_worker import Worker

    facts_dispatch_flush()  # jobs of stores made just before are queued
    Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id=worker_id,
        excluded_queue_names=[],
    ).run()
