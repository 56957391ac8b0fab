"""Demo routes for `make run` (idempotent): the offline provider always, real ones when configured.

`gpt-4.1-mini` and `sofia-default` try OpenAI (OPENAI_API_KEY), DeepSeek (DEEPSEEK_API_KEY) and
Ollama (OLLAMA_BASE_URL) in that order when set, and always end with the offline provider, so the
Quick Start answers without any key. `offline-embed` is a 384-dimension embedding route.
"""

from __future__ import annotations

from typing import TextIO

from django.conf import settings
from django.db import transaction

from llm.models import ProviderKind, RouteKind
from llm.services import provider_key_ensure, provider_upsert, route_upsert

OFFLINE_EMBED_DIMENSIONS = 384
CHAT_ROUTES = ("gpt-4.1-mini", "sofia-default")


@transaction.atomic
def seed_demo(*, stdout: TextIO) -> None:
    offline = provider_upsert(name="offline", kind=ProviderKind.OFFLINE, timeout_seconds=5.0)
    chat_targets: list[dict] = []
    if settings.LLM_DEMO_OPENAI_API_KEY:
        openai = provider_upsert(name="openai", kind=ProviderKind.OPENAI)
        provider_key_ensure(provider=openai, secret=settings.LLM_DEMO_OPENAI_API_KEY, label="env")
        chat_targets.append(
            {
                "provider": openai,
                "physical_model": "gpt-4.1-mini",
                "input_price_per_1m": "0.40",
                "output_price_per_1m": "1.60",
            }
        )
    if settings.LLM_DEMO_DEEPSEEK_API_KEY:
        deepseek = provider_upsert(name="deepseek", kind=ProviderKind.DEEPSEEK)
        provider_key_ensure(
            provider=deepseek, secret=settings.LLM_DEMO_DEEPSEEK_API_KEY, label="env"
        )
        chat_targets.append(
            {
                "provider": deepseek,
                "physical_model": "deepseek-chat",
                "input_price_per_1m": "0.27",
                "output_price_per_1m": "1.10",
            }
        )
    if settings.LLM_DEMO_OLLAMA_BASE_URL:
        base_url = settings.LLM_DEMO_OLLAMA_BASE_URL.rstrip("/")
        if not base_url.endswith("/v1"):  # OLLAMA_BASE_URL is usually the server root
            base_url += "/v1"
        ollama = provider_upsert(name="ollama", kind=ProviderKind.OLLAMA, base_url=base_url)
        chat_targets.append({"provider": ollama, "physical_model": settings.LLM_DEMO_OLLAMA_MODEL})
    chat_targets.append({"provider": offline, "physical_model": "offline-chat"})
    for name in CHAT_ROUTES:
        route_upsert(
            name=name,
            kind=RouteKind.CHAT,
            targets=chat_targets,
            description="Demo route (real providers when configured, then offline).",
        )
    route_upsert(
        name="offline-embed",
        kind=RouteKind.EMBEDDING,
        targets=[
            {
                "provider": offline,
                "physical_model": "offline-hash-embedding",
                "dimensions": OFFLINE_EMBED_DIMENSIONS,
            }
        ],
        description="Feature-hashing embedding (offline, for development).",
    )
    used = ", ".join(t["provider"].name for t in chat_targets)
    stdout.write(f"LLM routes {', '.join(CHAT_ROUTES)} → {used}; embedding route offline-embed.\n")
