"""Authentication for /internal and /v1: X-Internal-Secret or `Authorization: Bearer <token>`.

Missing or wrong credentials → 401; a valid token without the route's scope → 403.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest
from ninja.security.base import AuthBase

from daarion.agents.selectors import service_token_aauthenticate
from daarion.agents.types import INTERNAL_SECRET_CALLER, Caller
from daarion.common.errors import PermissionDenied


def _internal_secret_matches(presented: str) -> bool:
    return hmac.compare_digest(presented.encode(), settings.INTERNAL_SECRET.encode())


def bearer_value(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def authenticate_request(request: HttpRequest) -> Caller | None:
    """The caller behind the request's credentials, or None when there are none valid."""
    return await caller_from_credentials(
        internal_secret=request.headers.get("X-Internal-Secret"),
        authorization=request.headers.get("Authorization", ""),
    )


async def caller_from_credentials(
    *, internal_secret: str | None, authorization: str
) -> Caller | None:
    """The caller behind an X-Internal-Secret / Authorization header pair, or None."""
    if internal_secret is not None:
        return INTERNAL_SECRET_CALLER if _internal_secret_matches(internal_secret) else None
    token = bearer_value(authorization)
    if token is None:
        return None
    # The shared secret is accepted as a bearer value too (some clients only send Bearer).
    if _internal_secret_matches(token):
        return INTERNAL_SECRET_CALLER
    return await service_token_aauthenticate(raw_token=token)


class ServiceAuth(AuthBase):
    """django-ninja auth for one scope (`llm`, `memory`, `tools`, `agents`)."""

    openapi_type = "http"
    openapi_scheme = "bearer"
    is_async = True

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__()

    async def __call__(self, request: HttpRequest) -> Caller | None:
        caller = await authenticate_request(request)
        if caller is None:
            return None
        if self.scope is not None and not caller.has_scope(self.scope):
            raise PermissionDenied(f"This service token lacks the '{self.scope}' scope.")
        return caller
