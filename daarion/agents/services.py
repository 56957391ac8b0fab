"""Writes to the agents registry."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from daarion.agents.models import Agent, MicroDAO, Scope, ServiceToken

TOKEN_PREFIX = "dst_"  # noqa: S105  (a public prefix, greppable by leaked-secret scanners)


def hash_token(raw_token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no brute-force surface).
    return hashlib.sha256(raw_token.encode()).hexdigest()


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    cleaned = sorted({scope.strip() for scope in scopes if scope.strip()})
    unknown = set(cleaned) - set(Scope.values)
    if unknown:
        raise ValidationError(
            f"Unknown scope(s): {', '.join(sorted(unknown))}. Known: {', '.join(Scope.values)}."
        )
    if not cleaned:
        raise ValidationError("A service token needs at least one scope.")
    return cleaned


@transaction.atomic
def service_token_create(
    *, name: str, scopes: Iterable[str], agent_id: str | None = None
) -> tuple[ServiceToken, str]:
    """Create a token; returns the row and the raw token, which is never retrievable again."""
    agent = Agent.objects.get(pk=agent_id) if agent_id else None
    raw = generate_token()
    token = ServiceToken(
        name=name,
        scopes=normalize_scopes(scopes),
        agent=agent,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        token_hash=hash_token(raw),
    )
    token.full_clean()
    token.save()
    return token, raw


def service_token_assign_secret(*, token: ServiceToken) -> str:
    """Give an unsaved token (built in admin) its secret; returns the raw value to show once."""
    raw = generate_token()
    token.prefix = raw[: len(TOKEN_PREFIX) + 6]
    token.token_hash = hash_token(raw)
    return raw


def service_token_revoke(*, token: ServiceToken) -> ServiceToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def microdao_upsert(*, microdao_id: str, name: str, **fields) -> MicroDAO:
    microdao, _ = MicroDAO.objects.update_or_create(
        id=microdao_id, defaults={"name": name, **fields}
    )
    return microdao


def agent_upsert(*, agent_id: str, microdao_id: str, display_name: str, **fields) -> Agent:
    agent, _ = Agent.objects.update_or_create(
        id=agent_id,
        defaults={"microdao_id": microdao_id, "display_name": display_name, **fields},
    )
    return agent
