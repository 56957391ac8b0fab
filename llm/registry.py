"""The routing registry as plain immutable objects, cached per process.

The hot path reads `registry_aget()` — a dictionary lookup once warm. Saving or deleting a
provider, key, route or target invalidates the cache in this process (llm/signals.py); other
processes drop it when the shared registry stamp moves (daarion/common/registry_stamp.py), and
reload within LLM_REGISTRY_CACHE_SECONDS at the latest.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings

from daarion.common.db import release_connection
from daarion.common.process_state import register_reset
from daarion.common.registry_cache import RegistryCache
from daarion.common.registry_stamp import on_registry_change, registry_stamp_acheck
from llm.models import ModelRoute, Provider, RouteKind
from llm.types import ProviderInfo


@dataclass(frozen=True, slots=True)
class TargetInfo:
    id: int
    provider: ProviderInfo
    physical_model: str
    priority: int
    weight: int
    input_price_per_1m: Decimal
    output_price_per_1m: Decimal
    dimensions: int | None


@dataclass(frozen=True, slots=True)
class RouteInfo:
    name: str
    kind: str
    targets: tuple[TargetInfo, ...]  # enabled targets of enabled providers, by priority

    def ordered_targets(self) -> list[TargetInfo]:
        """Targets by priority; within one priority a weighted random order (weight = share)."""
        ordered: list[TargetInfo] = []
        for _, group in itertools.groupby(self.targets, key=lambda t: t.priority):
            members = list(group)
            if len(members) > 1:
                # Efraimidis-Spirakis: sorting by u^(1/w) gives a weighted random permutation.
                members.sort(
                    key=lambda t: random.random() ** (1.0 / max(t.weight, 1)),  # noqa: S311
                    reverse=True,
                )
            ordered.extend(members)
        return ordered

    @property
    def dimensions(self) -> int | None:
        return self.targets[0].dimensions if self.targets else None


@dataclass(frozen=True, slots=True)
class Registry:
    routes: dict[str, RouteInfo]  # enabled routes only
    providers: dict[str, ProviderInfo]

    def known_models(self, kind: str | None = None) -> list[str]:
        return sorted(name for name, r in self.routes.items() if kind is None or r.kind == kind)


registry_cache: RegistryCache[Registry] = RegistryCache(
    "llm-registry", ttl=getattr(settings, "LLM_REGISTRY_CACHE_SECONDS", 30.0)
)
_KEY = "registry"


def _load_registry() -> Registry:
    providers: dict[int, ProviderInfo] = {}
    for provider in Provider.objects.prefetch_related("keys").all():
        active = [k for k in provider.keys.all() if k.is_active and k.secret]
        providers[provider.id] = ProviderInfo(
            id=provider.id,
            name=provider.name,
            kind=provider.kind,
            base_url=provider.effective_base_url,
            timeout_seconds=provider.timeout_seconds,
            enabled=provider.enabled,
            keys=tuple(k.secret for k in active),
            key_ids=tuple(k.id for k in active),
        )
    routes: dict[str, RouteInfo] = {}
    for route in ModelRoute.objects.filter(enabled=True).prefetch_related("targets"):
        targets = sorted(
            (
                TargetInfo(
                    id=t.id,
                    provider=providers[t.provider_id],
                    physical_model=t.physical_model,
                    priority=t.priority,
                    weight=t.weight,
                    input_price_per_1m=t.input_price_per_1m,
                    output_price_per_1m=t.output_price_per_1m,
                    dimensions=t.dimensions,
                )
                for t in route.targets.all()
                if t.enabled and providers[t.provider_id].enabled
            ),
            key=lambda t: (t.priority, t.id),
        )
        routes[route.name] = RouteInfo(name=route.name, kind=route.kind, targets=tuple(targets))
    return Registry(routes=routes, providers={p.name: p for p in providers.values()})


# The last snapshot loaded, served while a fresh one loads after the TTL expires (so that a
# busy process does not send every in-flight request to the database at the same moment).
# An explicit invalidation (a registry change) drops it: the next request loads synchronously.
_stale: Registry | None = None
_refreshing: asyncio.Task | None = None


def _load_and_release() -> Registry:
    global _stale
    try:
        registry = registry_cache.get(_KEY, _load_registry)
        _stale = registry
        return registry
    finally:
        release_connection()


def registry_get() -> Registry:
    global _stale
    registry = registry_cache.get(_KEY, _load_registry)
    _stale = registry
    return registry


async def registry_aget() -> Registry:
    global _refreshing
    await registry_stamp_acheck()  # a change elsewhere drops the copies: the load below is sync
    cached = registry_cache.peek(_KEY)
    if cached is not None:
        return cached
    stale = _stale
    if stale is not None:
        if _refreshing is None or _refreshing.done():
            _refreshing = asyncio.ensure_future(sync_to_async(_load_and_release)())
        return stale
    return await sync_to_async(_load_and_release)()


@register_reset
def registry_invalidate() -> None:
    global _stale
    _stale = None
    registry_cache.invalidate()


on_registry_change(registry_invalidate)  # a change in another process: no stale copy either


__all__ = ["Registry", "RouteInfo", "RouteKind", "TargetInfo", "registry_aget"]
