"""Memory test helpers: embedding routes on the real gateway, fake embedding upstreams."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from aiohttp import web

from llm.models import ModelRoute, Provider, ProviderKind, RouteKind
from llm.providers.offline import hash_embedding
from llm.registry import registry_invalidate
from tests.fakes.server import serve_aiohttp


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


class FakeEmbeddingUpstream:
    """A real OpenAI-compatible /v1/embeddings server on 127.0.0.1 that can be made to fail."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.failing = False
        self.fail_when_contains: str | None = None  # fail any batch holding this text
        self.calls = 0

    async def _embeddings(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.failing:
            return web.json_response({"error": {"message": "overloaded"}}, status=503)
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if self.fail_when_contains and any(self.fail_when_contains in t for t in texts):
            return web.json_response({"error": {"message": "bad batch"}}, status=500)
        data = [
            {"object": "embedding", "index": i, "embedding": hash_embedding(t, self.dimensions)}
            for i, t in enumerate(texts)
        ]
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        return web.json_response({"object": "list", "data": data, "usage": usage})

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self._embeddings)
        with serve_aiohttp(app) as base_url:
            yield f"{base_url}/v1"
