"""Checks shared by the API and in-process callers: the same clear 4xx either way."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from daarion.agents.models import MicroDAO
from daarion.agents.selectors import agent_aget, agent_get
from daarion.common.errors import BadRequest, NotFound, PayloadTooLarge, PermissionDenied
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


def _scope_error(agent_id: str, microdao_id: str, microdao_exists: bool) -> Exception:
    if not microdao_exists:
        return NotFound(f"Unknown microDAO {microdao_id!r}.")
    return PermissionDenied(f"Agent {agent_id!r} is not an agent of {microdao_id!r}.")


async def tenant_scope_aget(*, agent_id: str, microdao_id: str) -> TenantScope:
    """The caller's tenant; 404 for an unknown agent or microDAO, 403 for a mismatched pair."""
    if not agent_id or not microdao_id:
        raise BadRequest("`agent_id` and `microdao_id` are required.")
    agent = await agent_aget(agent_id=agent_id)
    if agent is None:
        raise NotFound(f"Unknown agent {agent_id!r}.")
    if agent.microdao_id != microdao_id:
        exists = await MicroDAO.objects.filter(pk=microdao_id).aexists()
        raise _scope_error(agent_id, microdao_id, exists)
    return TenantScope(
        microdao_id=microdao_id, agent_id=agent_id, shares_memory=agent.microdao_shares_memory
    )


def tenant_scope_get(*, agent_id: str, microdao_id: str) -> TenantScope:
    if not agent_id or not microdao_id:
        raise BadRequest("`agent_id` and `microdao_id` are required.")
    agent = agent_get(agent_id=agent_id)
    if agent is None:
        raise NotFound(f"Unknown agent {agent_id!r}.")
    if agent.microdao_id != microdao_id:
        raise _scope_error(agent_id, microdao_id, MicroDAO.objects.filter(pk=microdao_id).exists())
    return TenantScope(
        microdao_id=microdao_id, agent_id=agent_id, shares_memory=agent.microdao_shares_memory
    )
