"""Is fact extraction on for a microDAO, and through which gateway route? (cached)

Global FactSettings row → the microDAO's own row → settings.MEMORY_FACTS_ROUTE. Extraction is off
when an operator turned it off, when the route does not exist, or when the route reaches only
the offline provider (its "facts" would be echoes); `reason` says which, for admin.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from daarion.common.registry_cache import RegistryCache
from memory.facts.models import FactSettings

OFFLINE_KIND = "offline"


@dataclass(frozen=True, slots=True)
class FactsConfig:
    microdao_id: str
    route: str
    enabled: bool
    reason: str = ""  # why extraction is off


facts_config_cache: RegistryCache[FactsConfig] = RegistryCache("memory-facts-config", ttl=30.0)


def _route_state(route: str) -> str:
    """Empty when the route can extract, else why not."""
    from llm import gateway  # imported on use, like memory/embeddings.py

    kinds = gateway.chat_route_provider_kinds(route)
    if kinds is None:
        return f"no chat route {route!r} in the LLM gateway"
    if not kinds:
        return f"route {route!r} has no enabled target"
    if all(kind == OFFLINE_KIND for kind in kinds):
        return f"route {route!r} reaches only the offline provider"
    return ""


def _load(microdao_id: str) -> FactsConfig:
    rows = {
        row.microdao_id: row
        for row in FactSettings.objects.filter(Q(microdao_id=microdao_id) | Q(microdao=None))
    }
    own, global_row = rows.get(microdao_id), rows.get(None)
    route = (
        (own.route if own else "")
        or (global_row.route if global_row else "")
        or settings.MEMORY_FACTS_ROUTE
    )
    row = own or global_row
    if row is not None and not row.enabled:
        return FactsConfig(microdao_id, route, False, "turned off in fact extraction settings")
    reason = _route_state(route)
    return FactsConfig(microdao_id, route, not reason, reason)


def facts_config_get(*, microdao_id: str) -> FactsConfig:
    return facts_config_cache.get(microdao_id, lambda: _load(microdao_id))


def facts_config_default() -> FactsConfig:
    """The state for a microDAO without its own row (admin's "is extraction on?")."""
    return _load("")
