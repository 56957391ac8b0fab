"""Checks shared by the API and in-process callers: the same clear 4xx either way."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from daarion.agents.access import agent_access_acheck, agent_access_check
from daarion.agents.selectors import AgentInfo
from daarion.common.errors import BadRequest, PayloadTooLarge
from memory.models import Kind, Tier
from memory.types import TenantScope

TIERS = (*Tier.values, "facts")  # facts: memory/facts (docs/memory-facts.md)
KINDS = tuple(Kind.values)


def clean_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise BadRequest("`query` must be a non-empty string.")
    query = query.strip()
    if len(query) > settings.MEMORY_MAX_QUERY_CHARS:
        raise PayloadTooLarge(
            f"`query` has {len(query)} characters; at most "
            f"{settings.MEMORY_MAX_QUERY_CHARS} are allowed."
        )
    return query


def clean_limit(limit: int) -> int:
    maximum = settings.MEMORY_MAX_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise BadRequest(f"`limit` must be an integer from 1 to {maximum}, got {limit!r}.")
    return limit


def clean_tiers(tiers: Sequence[str] | None) -> list[str]:
    if tiers is None:
        return list(TIERS)
    unknown = [tier for tier in tiers if tier not in TIERS]
    if unknown or not tiers:
        raise BadRequest(f"`tiers` must be a non-empty subset of {list(TIERS)}; got {tiers!r}.")
    return list(dict.fromkeys(tiers))


def clean_kinds(kinds: Sequence[str] | None) -> list[str] | None:
    if kinds is None:
        return None
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise BadRequest(f"Unknown memory kind(s) {unknown}; known: {list(KINDS)}.")
    return list(dict.fromkeys(kinds)) or None


def clean_text(text: str, *, field: str = "text") -> str:
    if len(text) > settings.MEMORY_MAX_TEXT_CHARS:
        raise PayloadTooLarge(
            f"`{field}` has {len(text)} characters; at most "
            f"{settings.MEMORY_MAX_TEXT_CHARS} are allowed per memory."
        )
    return text


def _scope(agent: AgentInfo, microdao_id: str) -> TenantScope:
    return TenantScope(
        microdao_id=microdao_id, agent_id=agent.id, shares_memory=agent.microdao_shares_memory
    )


async def tenant_scope_aget(*, agent_id: str, microdao_id: str) -> TenantScope:
    """The caller's tenant, under the one agent access policy (daarion.agents.access)."""
    if not agent_id or not microdao_id:
        raise BadRequest("`agent_id` and `microdao_id` are required.")
    agent = await agent_access_acheck(agent_id=agent_id, microdao_id=microdao_id)
    return _scope(agent, microdao_id)


def tenant_scope_get(*, agent_id: str, microdao_id: str) -> TenantScope:
    if not agent_id or not microdao_id:
        raise BadRequest("`agent_id` and `microdao_id` are required.")
    return _scope(agent_access_check(agent_id=agent_id, microdao_id=microdao_id), microdao_id)
