"""Reads from the agents registry, cached for the hot path."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from daarion.agents.models import Agent, ServiceToken
from daarion.agents.services import hash_token
from daarion.agents.types import Caller
from daarion.common.registry_cache import RegistryCache

LAST_USED_RESOLUTION = dt.timedelta(seconds=60)  # write last_used_at at most once a minute


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """What the hot path needs of an agent, detached from the ORM."""

    id: str
    microdao_id: str
    display_name: str
    system_prompt: str
    default_model: str
    rate_limit: str
    is_active: bool
    microdao_shares_memory: bool
    microdao_monthly_budget_usd: object  # Decimal | None


agent_cache: RegistryCache[AgentInfo | None] = RegistryCache("agents", ttl=30.0)
token_cache: RegistryCache[Caller | None] = RegistryCache(
    "service-tokens", ttl=settings.SERVICE_TOKEN_CACHE_SECONDS
)
_last_used_written: dict[int, dt.datetime] = {}


def _load_agent(agent_id: str) -> AgentInfo | None:
    agent = Agent.objects.select_related("microdao").filter(pk=agent_id).first()
    if agent is None:
        return None
    return AgentInfo(
        id=agent.id,
        microdao_id=agent.microdao_id,
        display_name=agent.display_name,
        system_prompt=agent.system_prompt,
        default_model=agent.default_model,
        rate_limit=agent.rate_limit,
        is_active=agent.is_active,
        microdao_shares_memory=agent.microdao.shares_memory,
        microdao_monthly_budget_usd=agent.microdao.monthly_budget_usd,
    )


def agent_get(*, agent_id: str) -> AgentInfo | None:
    """The agent (active or not), from the in-process cache; None if unknown."""
    return agent_cache.get(agent_id, lambda: _load_agent(agent_id))


async def agent_aget(*, agent_id: str) -> AgentInfo | None:
    cached = agent_cache.peek(agent_id)
    if cached is not None:
        return cached
    return await sync_to_async(agent_get)(agent_id=agent_id)


def _load_caller(token_hash: str) -> Caller | None:
    token = (
        ServiceToken.objects.filter(token_hash=token_hash, revoked_at__isnull=True)
        .only("id", "name", "scopes", "agent_id", "last_used_at")
        .first()
    )
    if token is None:
        return None
    _touch_last_used(token.id, token.last_used_at)
    return Caller(
        name=token.name,
        scopes=frozenset(token.scopes),
        agent_id=token.agent_id,
        token_id=token.id,
    )


def _touch_last_used(token_id: int, last_used_at: dt.datetime | None) -> None:
    now = timezone.now()
    previous = _last_used_written.get(token_id) or last_used_at
    if previous is None or now - previous >= LAST_USED_RESOLUTION:
        ServiceToken.objects.filter(pk=token_id).update(last_used_at=now)
        _last_used_written[token_id] = now


def service_token_authenticate(*, raw_token: str) -> Caller | None:
    """The caller a raw bearer token stands for, or None if unknown or revoked."""
    token_hash = hash_token(raw_token)
    return token_cache.get(token_hash, lambda: _load_caller(token_hash))


async def service_token_aauthenticate(*, raw_token: str) -> Caller | None:
    token_hash = hash_token(raw_token)
    cached = token_cache.peek(token_hash)
    if cached is not None:
        return cached
    return await sync_to_async(service_token_authenticate)(raw_token=raw_token)
