"""Writes to the gateway's registry (admin, commands and the demo seeder call these)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from llm import errors
from llm.models import HealthState, ModelRoute, Provider, ProviderKey, RouteKind, RouteTarget
from llm.providers import adapter_for
from llm.providers.transport import close_clients
from llm.types import ProviderInfo
from llm.usage import usage_writer


def provider_upsert(*, name: str, kind: str, **fields) -> Provider:
    provider, _ = Provider.objects.update_or_create(name=name, defaults={"kind": kind, **fields})
    return provider


def provider_key_ensure(*, provider: Provider, secret: str, label: str = "") -> ProviderKey:
    """Add `secret` as an active key unless the provider already has it (idempotent)."""
    for key in provider.keys.all():
        if key.secret == secret:
            if not key.is_active:
                key.is_active = True
                key.save(update_fields=["is_active"])
            return key
    return ProviderKey.objects.create(provider=provider, secret=secret, label=label)


@transaction.atomic
def route_upsert(
    *, name: str, kind: str, targets: list[dict], description: str = "", enabled: bool = True
) -> ModelRoute:
    """Create or replace a route and its targets (priority follows list order when not given)."""
    route, _ = ModelRoute.objects.update_or_create(
        name=name, defaults={"kind": kind, "description": description, "enabled": enabled}
    )
    route.targets.all().delete()
    for position, spec in enumerate(targets, start=1):
        spec = dict(spec)
        spec.setdefault("priority", position)
        for price in ("input_price_per_1m", "output_price_per_1m"):
            spec[price] = Decimal(str(spec.get(price, "0")))
        RouteTarget.objects.create(route=route, **spec)
    return route


KEY_LAST_USED_RESOLUTION_SECONDS = 60.0
_key_last_noted: dict[int, float] = {}


def provider_key_note_used(*, key_id: int) -> None:
    """Record that a key was used: written at most once a minute per key, off the hot path
    (on the usage writer's thread). The gateway calls it for the key of each attempt."""
    now = time.monotonic()
    if now - _key_last_noted.get(key_id, -1e9) < KEY_LAST_USED_RESOLUTION_SECONDS:
        return
    _key_last_noted[key_id] = now
    stamp = timezone.now()
    usage_writer.submit_task(
        lambda: ProviderKey.objects.filter(pk=key_id).update(last_used_at=stamp)
    )


def provider_health_set(*, provider_name: str, state: str, detail: str = "") -> None:
    Provider.objects.filter(name=provider_name).update(
        health_state=state, health_detail=detail[:300], health_checked_at=timezone.now()
    )


def provider_health_queue(*, provider_name: str, state: str, detail: str = "") -> None:
    """provider_health_set off the hot path (on the usage writer's thread; never blocks)."""
    usage_writer.submit_task(
        lambda: provider_health_set(provider_name=provider_name, state=state, detail=detail)
    )


@dataclass(frozen=True, slots=True)
class ProviderTestOutcome:
    provider: str
    ok: bool
    detail: str
    latency_ms: float


def _provider_info(provider: Provider) -> ProviderInfo:
    return ProviderInfo(
        id=provider.id,
        name=provider.name,
        kind=provider.kind,
        base_url=provider.effective_base_url,
        timeout_seconds=min(provider.timeout_seconds, 20.0),
        enabled=provider.enabled,
        keys=tuple(k.secret for k in provider.keys.all() if k.is_active and k.secret),
    )


async def _probe(info: ProviderInfo, target: RouteTarget | None, kind: str) -> str:
    adapter = adapter_for(info.kind)
    api_key, _ = info.next_key()
    model = target.physical_model if target else "test"
    if kind == RouteKind.EMBEDDING:
        result = await adapter.embed(
            provider=info,
            api_key=api_key,
            model=model,
            texts=["ping"],
            dimensions=target.dimensions if target else None,
        )
        return f"embedding of {len(result.vectors[0])} dimensions from {model}"
    reply = await adapter.chat(
        provider=info,
        api_key=api_key,
        model=model,
        messages=[{"role": "user", "content": "Reply with: ok"}],
        params={"max_tokens": 5, "temperature": 0},
    )
    return f"{model} answered ({reply.completion_tokens} completion tokens)"


def provider_test(*, provider: Provider) -> ProviderTestOutcome:
    """Make a tiny real call (a 5-token chat, or one embedding for embedding-only providers)
    with the provider's first routed model; record and return the outcome (no secrets)."""
    target = (
        RouteTarget.objects.filter(provider=provider)
        .select_related("route")
        .order_by("route__kind", "priority")
        .first()
    )
    kind = target.route.kind if target else RouteKind.CHAT
    info = _provider_info(provider)
    started = time.perf_counter()

    async def run() -> str:
        try:
            return await _probe(info, target, kind)
        finally:
            await close_clients()

    try:
        detail = async_to_sync(run)()
        ok = True
    except errors.ProviderError as exc:
        detail, ok = exc.message, False
    except (TimeoutError, OSError) as exc:
        detail, ok = f"{type(exc).__name__}", False
    latency_ms = (time.perf_counter() - started) * 1000
    provider_health_set(
        provider_name=provider.name,
        state=HealthState.OK if ok else HealthState.FAILING,
        detail=detail,
    )
    return ProviderTestOutcome(
        provider=provider.name, ok=ok, detail=detail, latency_ms=round(latency_ms, 1)
    )
