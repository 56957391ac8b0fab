"""Monthly microDAO budgets.

The spend of the current UTC month is read from UsageLog at most every
LLM_BUDGET_REFRESH_SECONDS per microDAO and per process; the cost of requests made since then in
this process is added locally. So enforcement is exact within one process and lags other
processes by at most that interval (documented in the README).

Concurrent requests are held by reservations: admission reserves the request's maximum cost
(`budget_areserve`) and accounting releases it when the actual cost is noted
(`budget_release`). A request is admitted while the month's spend plus the reservations of the
requests still running is under the budget, so the overspend is at most one request's cost.
Reservations live in Redis when the default cache is Redis (shared by every process; atomic
Lua check-and-reserve), in this process otherwise (llm.budget_reservations).

When the database is down, the last known spend is used (the refresh is retried later): a
budget check never fails a request on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Sum
from django.utils import timezone

from daarion.agents.models import MicroDAO
from daarion.common.db import release_connection
from daarion.common.process_state import register_reset
from daarion.common.registry_cache import RegistryCache
from llm.budget_reservations import reservations
from llm.models import UsageLog
from llm.usage import usage_flush

logger = logging.getLogger(__name__)

# Values are 1-tuples so that "no budget" (None) is cached too.
budget_cache: RegistryCache[tuple[Decimal | None]] = RegistryCache("llm-microdao-budgets", ttl=30.0)


@dataclass(slots=True)
class _Spend:
    month: tuple[int, int]
    db_total: Decimal
    read_at: float
    local_since_read: Decimal


_spend: dict[str, _Spend] = {}
_lock = threading.RLock()  # re-entrant: rows may be recorded from a GC finaliser


def _month_now() -> tuple[int, int]:
    now = timezone.now()
    return now.year, now.month


def month_start():
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# The last budget read per microDAO, kept past the cache's TTL for a database outage.
_last_budget: dict[str, tuple[Decimal | None]] = {}


def _load_budget(microdao_id: str) -> tuple[Decimal | None]:
    try:
        budget = (
            MicroDAO.objects.filter(pk=microdao_id)
            .values_list("monthly_budget_usd", flat=True)
            .first()
        )
    except DatabaseError:
        if microdao_id in _last_budget:
            logger.warning("budget of %s: database unavailable, using the last known", microdao_id)
            return _last_budget[microdao_id]
        raise
    _last_budget[microdao_id] = (budget,)
    return (budget,)


def microdao_budget_get(*, microdao_id: str) -> Decimal | None:
    return budget_cache.get(microdao_id, lambda: _load_budget(microdao_id))[0]


def microdao_month_spend_db(*, microdao_id: str) -> Decimal:
    total = UsageLog.objects.filter(
        microdao_id=microdao_id, created_at__gte=month_start()
    ).aggregate(total=Sum("cost_usd"))["total"]
    return total or Decimal(0)


def _refresh_spend(microdao_id: str) -> _Spend:
    usage_flush(timeout=1.0, spooled_ok=True)  # rows still in the writer's queue count too
    try:
        db_total = microdao_month_spend_db(microdao_id=microdao_id)
    except DatabaseError:
        # Keep serving on the last known spend (plus what this process added since); the next
        # request after the refresh interval tries the database again.
        logger.warning("spend of %s: database unavailable, using the last known", microdao_id)
        with _lock:
            entry = _spend.get(microdao_id)
            if entry is None or entry.month != _month_now():
                entry = _Spend(_month_now(), Decimal(0), time.monotonic(), Decimal(0))
                _spend[microdao_id] = entry
            entry.read_at = time.monotonic()
        return entry
    entry = _Spend(_month_now(), db_total, time.monotonic(), Decimal(0))
    with _lock:
        _spend[microdao_id] = entry
    return entry


def microdao_spend_get(*, microdao_id: str) -> Decimal:
    entry = _spend.get(microdao_id)
    refresh = getattr(settings, "LLM_BUDGET_REFRESH_SECONDS", 5.0)
    if entry is None or entry.month != _month_now() or time.monotonic() - entry.read_at > refresh:
        entry = _refresh_spend(microdao_id)
    return entry.db_total + entry.local_since_read


def budget_note_spend(*, microdao_id: str, cost: Decimal) -> None:
    """Add a request's cost to this process's view of the month (the gateway's accounting calls
    it with each usage row it queues, so the spend is exact here before the row is written)."""
    with _lock:
        entry = _spend.get(microdao_id)
        if entry is not None:
            entry.local_since_read += cost


def _check(microdao_id: str) -> tuple[Decimal, Decimal] | None:
    """(budget, spend) when the microDAO has a budget and it is used up, else None."""
    try:
        budget = microdao_budget_get(microdao_id=microdao_id)
        if budget is None:
            return None
        spend = microdao_spend_get(microdao_id=microdao_id)
        return (budget, spend) if spend >= budget else None
    finally:
        release_connection()


async def budget_acheck(*, microdao_id: str) -> tuple[Decimal, Decimal] | None:
    cached = budget_cache.peek(microdao_id)
    if cached is None:
        return await sync_to_async(_check)(microdao_id)
    budget = cached[0]
    if budget is None:
        return None
    entry = _spend.get(microdao_id)
    refresh = getattr(settings, "LLM_BUDGET_REFRESH_SECONDS", 5.0)
    if entry is None or entry.month != _month_now() or time.monotonic() - entry.read_at > refresh:
        return await sync_to_async(_check)(microdao_id)
    spend = entry.db_total + entry.local_since_read
    return (budget, spend) if spend >= budget else None


async def budget_areserve(
    *, microdao_id: str, estimate: Callable[[], Decimal]
) -> tuple[tuple[Decimal, Decimal] | None, Decimal]:
    """Admit a request that may cost up to `estimate()` (called only under a budget).

    ((budget, spend incl. reservations), 0) when refused; (None, reserved) when admitted,
    where `reserved` (0 without a budget) is to be given back with budget_release."""
    over = await budget_acheck(microdao_id=microdao_id)  # loads budget and spend when stale
    if over is not None:
        return over, Decimal(0)
    cached = budget_cache.peek(microdao_id)
    budget = cached[0] if cached is not None else None
    entry = _spend.get(microdao_id)
    if budget is None or entry is None:
        return None, Decimal(0)
    amount = estimate()
    if amount <= 0:
        return None, Decimal(0)
    spend = entry.db_total + entry.local_since_read
    others = reservations.reserve(
        microdao_id=microdao_id, spend=spend, budget=budget, amount=amount
    )
    if others is not None:
        return (budget, spend + others), Decimal(0)
    return None, amount


def budget_release(*, microdao_id: str, amount: Decimal) -> None:
    if amount:
        reservations.release(microdao_id=microdao_id, amount=amount)


@register_reset
def budget_reset() -> None:
    """Forget cached budgets and spend (signals, tests)."""
    budget_cache.invalidate()
    reservations.reset()
    with _lock:
        _spend.clear()
        _last_budget.clear()
