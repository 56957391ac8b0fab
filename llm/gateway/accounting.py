"""Accounting: the one UsageLog row of a request, its cost, the budget's local spend and the
metrics — and the result the caller is given with the same numbers.

`account()` only queues (no I/O, no await): safe from cancelled code paths and finalisers.
`account_durably()` also waits (bounded) until the row is committed when LLM_USAGE_DURABLE is
on, so a request that got an answer always has its row.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from llm.budget import budget_note_spend, budget_release
from llm.gateway.call import Call
from llm.metrics import metrics_observe
from llm.models import UsageStatus
from llm.registry import TargetInfo
from llm.types import ChatResult
from llm.usage import UsageRow, cost_usd, usage_record, usage_wait


@dataclass(frozen=True, slots=True)
class Accounted:
    cost_usd: Decimal
    latency_ms: float
    committed: asyncio.Future | None = None  # set once the row is committed (durable usage)


def target_cost(target: TargetInfo | None, prompt_tokens: int, completion_tokens: int) -> Decimal:
    if target is None:
        return Decimal(0)
    return cost_usd(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        input_price_per_1m=target.input_price_per_1m,
        output_price_per_1m=target.output_price_per_1m,
    )


def account(
    call: Call,
    *,
    status: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    error: BaseException | None = None,
    wait: bool = True,
) -> Accounted:
    """Queue the one UsageLog row of `call` (idempotent: later calls only report numbers).

    The cost is priced at `call.target` (the target that answered; none for a failure before
    any answer). With `wait` (and durable usage on), `committed` is a future to await.
    """
    cost = target_cost(call.target, prompt_tokens, completion_tokens)
    latency_ms = call.elapsed_ms
    if call.recorded:
        return Accounted(cost, latency_ms)
    call.recorded = True
    target = call.target
    provider = target.provider.name if target else ""
    error_type = ""
    error_message = ""
    if error is not None:
        error_type = getattr(error, "error_type", None) or type(error).__name__
        error_message = (getattr(error, "message", None) or str(error))[:500]
    if call.microdao_id and cost:
        budget_note_spend(microdao_id=call.microdao_id, cost=cost)
    if call.reserved:  # settle: the actual cost is noted above, the reservation given back
        budget_release(microdao_id=call.microdao_id, amount=call.reserved)
        call.reserved = Decimal(0)
    committed = usage_record(
        UsageRow(
            created_at=timezone.now(),
            request_id=call.request_id,
            kind=call.kind,
            agent_id=call.agent_id,
            microdao_id=call.microdao_id,
            model=call.model[:128],
            provider=provider,
            physical_model=target.physical_model if target else "",
            attempts=call.attempt_dicts(),
            attempt_count=sum(1 for a in call.attempts if a.outcome != "skipped"),
            fallback_used=call.fallback_used,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            latency_ms=round(latency_ms, 3),
            cost_usd=cost,
            status=status,
            error_type=error_type[:64],
            error_message=error_message,
            stream=call.stream,
        ),
        wait=wait and getattr(settings, "LLM_USAGE_DURABLE", True),
    )
    metrics_observe(
        kind=call.kind,
        route=call.model[:128],
        provider=provider,
        status=status,
        error_type=error_type,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=cost,
        latency_seconds=latency_ms / 1000,
    )
    return Accounted(cost, latency_ms, committed)


async def account_durably(
    call: Call,
    *,
    status: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    error: BaseException | None = None,
) -> Accounted:
    """account(), then wait (bounded) until the row is committed."""
    accounted = account(
        call,
        status=status,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        error=error,
    )
    await usage_wait(accounted.committed)
    return accounted


async def account_failure(call: Call, exc: BaseException) -> None:
    """The row of a failed request; awaited unless the request itself was cancelled."""
    cancelled = isinstance(exc, asyncio.CancelledError)
    accounted = account(call, status=UsageStatus.ERROR, error=exc, wait=not cancelled)
    await usage_wait(accounted.committed)


def chat_result(
    call: Call,
    *,
    message: dict,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    accounted: Accounted,
    extra: dict | None = None,
) -> ChatResult:
    target = call.target
    return ChatResult(
        message=message,
        finish_reason=finish_reason,
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        cost_usd=accounted.cost_usd,
        latency_ms=round(accounted.latency_ms, 3),
        provider=target.provider.name if target else "",
        physical_model=target.physical_model if target else "",
        fallback_used=call.fallback_used,
        attempts=call.attempt_dicts(),
        request_id=call.request_id,
        model=call.model,
        extra=extra or {},
    )
