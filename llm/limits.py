"""Per-agent rate limits with django-ratelimit, on the default cache.

With REDIS_URL the cache is Redis and django-ratelimit's add+incr is atomic there, so a limit
holds exactly across processes and hosts; without it, each process counts on its own (locmem).
"""

from __future__ import annotations

import functools
import logging

from django_ratelimit.core import get_usage

from daarion.agents.validators import parse_rate

logger = logging.getLogger(__name__)
RATE_GROUP = "llm.agent"


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


@functools.lru_cache(maxsize=1024)
def _rate_tuple(rate: str) -> tuple[int, int]:
    return parse_rate(rate)
