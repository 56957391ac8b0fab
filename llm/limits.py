"""Per-agent rate limits: django-ratelimit's fixed windows and keys, on the default cache.

With REDIS_URL the cache is Redis and the count is one atomic INCR there, so a limit holds
exactly across processes and hosts; without it, each process counts on its own (locmem).

On Redis the count is taken with redis.asyncio (`agent_rate_limit_ahit`): django-ratelimit's
own `get_usage` makes two synchronous round trips (add, then incr) on the event loop, which
stalls every request in flight for as long as Redis takes to answer. The key, window and expiry
are django-ratelimit's (its `_get_window` and `_make_cache_key`), so processes counting either
way count together. Without Redis (locmem: each process counts on its own anyway) the count is
a plain in-process dict with the same windows: no cache call, no pickling.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import weakref

from django.conf import settings
from django.core.cache import caches
from django_ratelimit import ALL
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, get_usage

from daarion.agents.validators import parse_rate
from daarion.common.process_state import register_reset

logger = logging.getLogger(__name__)
RATE_GROUP = "llm.agent"
_REDIS_TIMEOUT_SECONDS = 1.0  # a stuck Redis lets requests through rather than hanging them
_REDIS_BACKEND = "django_redis.cache.RedisCache"


def agent_rate_limit_hit(*, agent_id: str, rate: str) -> float | None:
    """Count one request for `agent_id`; seconds until the window resets if over the limit."""
    try:
        usage = get_usage(
            None,
            group=RATE_GROUP,
            key=lambda group, request: agent_id,
            rate=_rate_tuple(rate),  # a (count, seconds) tuple skips re-parsing per request
            increment=True,
        )
    except Exception as exc:  # the cache (Redis) is down: serve rather than refuse everyone
        logger.warning("rate limit cache unavailable (%s); allowing", type(exc).__name__)
        return None
    if usage is None or not usage["should_limit"]:
        return None
    return float(max(usage["time_left"], 1))


async def agent_rate_limit_ahit(*, agent_id: str, rate: str) -> float | None:
    """agent_rate_limit_hit without blocking the event loop on Redis."""
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    url = _redis_url()
    limit, period = _rate_tuple(rate)
    window = _get_window(agent_id, period)
    if url is None:  # this process's own count, as the locmem cache would keep it
        count = _local_windows.hit((agent_id, limit, period), window)
        return None if count <= limit else float(max(window - int(time.time()), 1))
    cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    key = str(cache.make_key(_make_cache_key(RATE_GROUP, window, (limit, period), agent_id, ALL)))
    try:
        async with asyncio.timeout(_REDIS_TIMEOUT_SECONDS):
            # One round trip: create the window's counter if new (django-ratelimit's add), count.
            pipe = _redis_client(url).pipeline(transaction=False)
            pipe.set(key, 0, ex=period + EXPIRATION_FUDGE, nx=True)
            pipe.incr(key)
            _, count = await pipe.execute()
    except Exception as exc:  # the cache (Redis) is down: serve rather than refuse everyone
        logger.warning("rate limit cache unavailable (%s); allowing", type(exc).__name__)
        return None
    if count <= limit:
        return None
    return float(max(window - int(time.time()), 1))


class _LocalWindows:
    """Per-process fixed-window counts (no cache round trip, no pickling): one entry per agent
    and rate, replaced when its window ends."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, int], tuple[int, int]] = {}
        self._lock = threading.Lock()  # requests of other threads (sync callers) count too

    def hit(self, key: tuple[str, int, int], window: int) -> int:
        with self._lock:
            entry = self._counts.get(key)
            count = entry[1] + 1 if entry is not None and entry[0] == window else 1
            self._counts[key] = (window, count)
            return count

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


_local_windows = _LocalWindows()
register_reset(_local_windows.reset)


def _redis_url() -> str | None:
    config = settings.CACHES.get(getattr(settings, "RATELIMIT_USE_CACHE", "default"), {})
    if config.get("BACKEND") != _REDIS_BACKEND:
        return None
    location = config.get("LOCATION")
    if isinstance(location, list | tuple):
        location = location[0] if location else None
    return str(location) if location else None


# redis.asyncio connections belong to one event loop: one client per (loop, URL).
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, object]] = (
    weakref.WeakKeyDictionary()
)


def _redis_client(url: str):
    import redis.asyncio

    loop = asyncio.get_running_loop()
    per_loop = _clients.get(loop)
    if per_loop is None:
        per_loop = _clients[loop] = {}
    client = per_loop.get(url)
    if client is None:
        client = per_loop[url] = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        )
    return client


@functools.lru_cache(maxsize=1024)
def _rate_tuple(rate: str) -> tuple[int, int]:
    return parse_rate(rate)
