"""Trying a route's targets: circuit breaker, bounded retries with backoff (honouring
Retry-After), fallback to the next target on timeout / connection error / 5xx / 429.

An attempt is `attempt(target, api_key)`; the key is picked here (round-robin over the
provider's keys) and its use noted, so adapters stay pure wire-protocol code.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from django.conf import settings

from llm import errors
from llm.breaker import breaker
from llm.gateway.call import Call
from llm.models import HealthState
from llm.registry import RouteInfo, TargetInfo
from llm.services import provider_health_queue, provider_key_note_used
from llm.types import Attempt

logger = logging.getLogger(__name__)

T = TypeVar("T")
AttemptFn = Callable[[TargetInfo, str | None], Awaitable[T]]


def _setting(name: str, default):
    return getattr(settings, name, default)


def _on_circuit_change(provider: str, state: str, detail: str) -> None:
    health = HealthState.FAILING if state == "open" else HealthState.OK
    logger.warning("llm provider %s circuit %s %s", provider, state, detail)
    provider_health_queue(
        provider_name=provider, state=health, detail=f"circuit {state} {detail}".strip()
    )


breaker.on_change = _on_circuit_change


def _backoff(retry: int, retry_after: float | None) -> float | None:
    """Seconds to wait before retry number `retry` (0-based), or None to move on instead."""
    if retry_after is not None:
        if retry_after > _setting("LLM_RETRY_AFTER_MAX_SECONDS", 5.0):
            return None
        return retry_after
    base = _setting("LLM_RETRY_BACKOFF_SECONDS", 0.2)
    return base * (2**retry) * (0.5 + random.random() / 2)  # noqa: S311  (jitter, not crypto)


def _api_key(target: TargetInfo) -> str | None:
    api_key, key_id = target.provider.next_key()
    if key_id is not None:
        provider_key_note_used(key_id=key_id)
    return api_key


def _attempt_failed(call: Call, target: TargetInfo, exc: errors.ProviderError, t0: float) -> None:
    call.attempts.append(
        Attempt(
            provider=target.provider.name,
            physical_model=target.physical_model,
            outcome=exc.error_type,
            detail=exc.message,
            status_code=exc.upstream_status,
            latency_ms=(time.perf_counter() - t0) * 1000,
        )
    )
    if exc.fallback:  # the provider's fault (not the caller's): counts towards the breaker
        breaker.record_failure(target.provider.name, exc.error_type)
    logger.warning("llm attempt failed: %s", exc.message)


async def attempt_targets(call: Call, route: RouteInfo, attempt: AttemptFn[T]) -> T:
    """Run `attempt` over the route's targets until one succeeds; return its value.

    Sets `call.target` / `call.fallback_used` to the target that answered and appends every
    attempt (and every target skipped by the breaker) to `call.attempts`.
    """
    targets = route.ordered_targets()
    retries = _setting("LLM_RETRIES_PER_TARGET", 1)
    last_error: errors.ProviderError | None = None
    failures: list[errors.ProviderError] = []  # every failed attempt, to spot "all 429"
    for index, target in enumerate(targets):
        name = target.provider.name
        if not breaker.allow(name):
            call.attempts.append(
                Attempt(name, target.physical_model, "skipped", "circuit open (cooling down)")
            )
            continue
        for retry in range(retries + 1):
            t0 = time.perf_counter()
            try:
                value = await attempt(target, _api_key(target))
            except errors.ProviderError as exc:
                last_error = exc
                failures.append(exc)
                _attempt_failed(call, target, exc, t0)
                if not exc.fallback:
                    breaker.record_success(name)  # it answered: the request was at fault
                    raise
                if exc.retryable and retry < retries:
                    delay = _backoff(retry, getattr(exc, "retry_after", None))
                    if delay is not None:
                        await asyncio.sleep(delay)
                        continue
                break
            except BaseException:
                breaker.release_trial(name)  # cancelled mid-attempt: let another request try
                raise
            breaker.record_success(name)
            call.attempts.append(
                Attempt(
                    name, target.physical_model, "ok", latency_ms=(time.perf_counter() - t0) * 1000
                )
            )
            call.target, call.fallback_used = target, index > 0
            return value
    if last_error is None:  # every target was skipped by the breaker
        wait = min(breaker.retry_after(t.provider.name) for t in targets)
        error = errors.NoEnabledTarget(
            f"Every provider of model '{route.name}' is cooling down after repeated failures.",
            details={"attempts": call.attempt_dicts()},
        )
        error.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        raise error
    if all(isinstance(e, errors.ProviderRateLimited) for e in failures):
        raise _all_rate_limited(route, call, failures)
    reasons = "; ".join(
        f"{a.provider}/{a.physical_model}: {a.outcome}" + (f" ({a.detail})" if a.detail else "")
        for a in call.attempts
    )
    raise errors.AllTargetsFailed(
        f"All targets of model '{route.name}' failed: {reasons}",
        details={"attempts": call.attempt_dicts()},
    )


def _all_rate_limited(
    route: RouteInfo, call: Call, failures: list[errors.ProviderError]
) -> errors.AllTargetsRateLimited:
    """Every attempt was a 429: answer 429 with the smallest Retry-After, so clients wait."""
    waits = [e.retry_after for e in failures if getattr(e, "retry_after", None) is not None]  # type: ignore[attr-defined]
    return errors.AllTargetsRateLimited(
        f"Every provider of model '{route.name}' is rate limiting (HTTP 429).",
        retry_after=min(waits) if waits else 1.0,
        details={"attempts": call.attempt_dicts()},
    )
