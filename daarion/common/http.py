"""The one factory for outbound HTTP clients (Zulip/Saleor style).

Every client has a timeout (there is no way to build one without), connection pooling and no
redirects unless asked. The transport defaults to aiohttp under httpx's API (httpx-aiohttp):
measured faster than httpx's own pool under concurrency (see docs/decisions/, decision 4).

An aiohttp-backed client belongs to the event loop it first ran on: keep one per loop (e.g. in a
dict keyed by the running loop), never share one across loops or threads.
"""

from __future__ import annotations

from typing import Literal

import httpx
from django.conf import settings

Transport = Literal["aiohttp", "httpx"]

DEFAULT_LIMITS = httpx.Limits(max_connections=512, max_keepalive_connections=128)


def build_timeout(
    total: float | None = None, *, connect: float | None = None, read: float | None = None
) -> httpx.Timeout:
    total = total if total is not None else settings.HTTP_DEFAULT_TIMEOUT_SECONDS
    return httpx.Timeout(total, connect=connect or min(total, 10.0), read=read or total)


def make_async_client(
    *,
    timeout: float | httpx.Timeout,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    follow_redirects: bool = False,
    limits: httpx.Limits = DEFAULT_LIMITS,
    transport: Transport | httpx.AsyncBaseTransport = "aiohttp",
) -> httpx.AsyncClient:
    """An httpx.AsyncClient with a mandatory timeout and no redirects by default."""
    if timeout is None:  # explicit guard: a client without a timeout can hang a worker forever
        raise ValueError("outbound HTTP clients must have a timeout")
    if not isinstance(timeout, httpx.Timeout):
        timeout = build_timeout(float(timeout))
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        transport_obj: httpx.AsyncBaseTransport | None = AiohttpTransport(
            limits=limits, trust_env=False
        )
    elif transport == "httpx":
        transport_obj = httpx.AsyncHTTPTransport(limits=limits, retries=0)
    else:
        transport_obj = transport
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout,
        follow_redirects=follow_redirects,
        limits=limits,
        transport=transport_obj,
        trust_env=False,  # no proxy/netrc surprises from the environment
    )
