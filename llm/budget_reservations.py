"""Budget reservations of the requests still running, per microDAO.

A request reserves its maximum cost at admission and gives it back when its actual cost is
noted. With a Redis default cache the totals are shared by every process (one Lua script
checks and reserves atomically); otherwise they are this process's own.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal

from django.core.cache import cache

logger = logging.getLogger(__name__)

# KEYS[1]: the total reserved; ARGV: spend, budget, amount, ttl. Refuses (returns the others'
# total) when spend + reserved >= budget, else adds `amount`. The TTL bounds what a crashed
# process's reservations can hold back.
_RESERVE_LUA = """
local reserved = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) + reserved >= tonumber(ARGV[2]) then
  return {0, tostring(reserved)}
end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, tostring(reserved)}
"""
_TTL_SECONDS = 600


class _LocalReservations:
    def __init__(self) -> None:
        self._reserved: dict[str, Decimal] = {}
        self._lock = threading.Lock()

    def reserve(
        self, *, microdao_id: str, spend: Decimal, budget: Decimal, amount: Decimal
    ) -> Decimal | None:
        """None if `amount` was reserved; else the others' reservations that made it refuse."""
        with self._lock:
            reserved = self._reserved.get(microdao_id, Decimal(0))
            if spend + reserved >= budget:
                return reserved
            self._reserved[microdao_id] = reserved + amount
            return None

    def release(self, *, microdao_id: str, amount: Decimal) -> None:
        with self._lock:
            left = self._reserved.get(microdao_id, Decimal(0)) - amount
            if left > 0:
                self._reserved[microdao_id] = left
            else:
                self._reserved.pop(microdao_id, None)

    def reset(self) -> None:
        with self._lock:
            self._reserved.clear()


class _RedisReservations:
    def __init__(self, client) -> None:
        self._client = client
        self._script = client.register_script(_RESERVE_LUA)
        self._local = _LocalReservations()  # used while Redis is unreachable

    @staticmethod
    def _key(microdao_id: str) -> str:
        return cache.make_key(f"llm-budget-reserved:{microdao_id}")

    def reserve(
        self, *, microdao_id: str, spend: Decimal, budget: Decimal, amount: Decimal
    ) -> Decimal | None:
        try:
            ok, reserved = self._script(
                keys=[self._key(microdao_id)],
                args=[str(spend), str(budget), str(amount), _TTL_SECONDS],
            )
        except Exception as exc:  # Redis down: hold concurrency in this process at least
            logger.warning("budget reservations: Redis unavailable (%s)", type(exc).__name__)
            return self._local.reserve(
                microdao_id=microdao_id, spend=spend, budget=budget, amount=amount
            )
        return (
            None
            if int(ok)
            else Decimal(reserved.decode() if isinstance(reserved, bytes) else reserved)
        )

    def release(self, *, microdao_id: str, amount: Decimal) -> None:
        try:
            self._client.incrbyfloat(self._key(microdao_id), -float(amount))
        except Exception as exc:
            logger.warning("budget reservations: Redis unavailable (%s)", type(exc).__name__)
            self._local.release(microdao_id=microdao_id, amount=amount)

    def reset(self) -> None:
        self._local.reset()


class _Reservations:
    """Picks Redis or in-process storage on first use (settings may change in tests)."""

    def __init__(self) -> None:
        self._impl: _LocalReservations | _RedisReservations | None = None

    def _get(self) -> _LocalReservations | _RedisReservations:
        if self._impl is None:
            client = None
            get_client = getattr(cache, "client", None)
            if get_client is not None and hasattr(get_client, "get_client"):
                client = get_client.get_client(write=True)  # django-redis
            self._impl = _RedisReservations(client) if client is not None else _LocalReservations()
        return self._impl

    def reserve(self, **kwargs) -> Decimal | None:
        return self._get().reserve(**kwargs)

    def release(self, **kwargs) -> None:
        self._get().release(**kwargs)

    def reset(self) -> None:
        if self._impl is not None:
            self._impl.reset()
        self._impl = None


reservations = _Reservations()
