"""Memory test helpers: embedding routes on the real gateway (the fake upstream is
tests/fakes/openai_upstream.py)."""

from __future__ import annotations

from llm.models import ModelRoute, Provider, ProviderKind, RouteKind
from llm.registry import registry_invalidate


def make_offline_embed_route(name: str = "offline-embed", dimensions: int = 384) -> ModelRoute:
    """The demo default: the offline provider's feature-hashing embedder."""
    provider, _ = Provider.objects.get_or_create(
        name="offline", defaults={"kind": ProviderKind.OFFLINE, "base_url": ""}
    )
    route, _ = ModelRoute.objects.get_or_create(name=name, kind=RouteKind.EMBEDDING)
    route.targets.get_or_create(
        provider=provider, defaults={"physical_model": "hash", "dimensions": dimensions}
    )
    registry_invalidate()
    return route


def make_remote_embed_route(name: str, base_url: str, dimensions: int) -> Provider:
    """An embedding route to an OpenAI-compatible upstream at `base_url` (…/v1)."""
    provider = Provider.objects.create(
        name=f"{name}-upstream",
        kind=ProviderKind.OPENAI_COMPATIBLE,
        base_url=base_url,
        timeout_seconds=2.0,
    )
    route = ModelRoute.objects.create(name=name, kind=RouteKind.EMBEDDING)
    route.targets.create(provider=provider, physical_model="embed-small", dimensions=dimensions)
    registry_invalidate()
    return provider
