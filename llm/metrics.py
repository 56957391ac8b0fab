"""Prometheus metrics of this process, rendered as text for GET /metrics.

Counters live in plain dicts (no client library needed for this much); each worker process
reports its own series, as Prometheus expects from multi-process servers scraped per process.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from decimal import Decimal

from daarion.common.process_state import register_reset

LATENCY_BUCKETS_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

_lock = threading.RLock()  # re-entrant: rows may be recorded from a GC finaliser
_requests: dict[tuple[str, str, str, str], int] = defaultdict(int)  # kind, route, provider, status
_errors: dict[tuple[str, str, str], int] = defaultdict(int)  # route, provider, error_type
_tokens: dict[tuple[str, str, str], int] = defaultdict(int)  # route, provider, direction
_cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # route, provider
_latency_buckets: dict[tuple[str, str], list[int]] = {}
_latency_sum: dict[tuple[str, str], float] = defaultdict(float)
_latency_count: dict[tuple[str, str], int] = defaultdict(int)


def metrics_observe(
    *,
    kind: str,
    route: str,
    provider: str,
    status: str,
    error_type: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: Decimal,
    latency_seconds: float,
) -> None:
    with _lock:
        _requests[(kind, route, provider, status)] += 1
        if error_type:
            _errors[(route, provider, error_type)] += 1
        if prompt_tokens:
            _tokens[(route, provider, "prompt")] += prompt_tokens
        if completion_tokens:
            _tokens[(route, provider, "completion")] += completion_tokens
        if cost:
            _cost[(route, provider)] += cost
        key = (route, provider)
        buckets = _latency_buckets.get(key)
        if buckets is None:
            buckets = _latency_buckets[key] = [0] * len(LATENCY_BUCKETS_SECONDS)
        index = bisect.bisect_left(LATENCY_BUCKETS_SECONDS, latency_seconds)
        if index < len(buckets):
            buckets[index] += 1
        _latency_sum[key] += latency_seconds
        _latency_count[key] += 1


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def metrics_render(*, provider_up: dict[str, int] | None = None) -> str:
    lines: list[str] = []
    with _lock:
        lines += [
            "# HELP llm_requests_total Gateway requests by route, provider and outcome.",
            "# TYPE llm_requests_total counter",
        ]
        for (kind, route, provider, status), n in sorted(_requests.items()):
            labels = _labels(kind=kind, route=route, provider=provider, status=status)
            lines.append(f"llm_requests_total{labels} {n}")
        lines += [
            "# HELP llm_errors_total Failed gateway requests by error type.",
            "# TYPE llm_errors_total counter",
        ]
        for (route, provider, error_type), n in sorted(_errors.items()):
            labels = _labels(route=route, provider=provider, error_type=error_type)
            lines.append(f"llm_errors_total{labels} {n}")
        lines += [
            "# HELP llm_tokens_total Tokens by route, provider and direction.",
            "# TYPE llm_tokens_total counter",
        ]
        for (route, provider, direction), n in sorted(_tokens.items()):
            labels = _labels(route=route, provider=provider, direction=direction)
            lines.append(f"llm_tokens_total{labels} {n}")
        lines += [
            "# HELP llm_cost_usd_total Cost in USD by route and provider.",
            "# TYPE llm_cost_usd_total counter",
        ]
        for (route, provider), total in sorted(_cost.items()):
            lines.append(f"llm_cost_usd_total{_labels(route=route, provider=provider)} {total}")
        lines += [
            "# HELP llm_request_duration_seconds Gateway request latency.",
            "# TYPE llm_request_duration_seconds histogram",
        ]
        for (route, provider), buckets in sorted(_latency_buckets.items()):
            cumulative = 0
            for bound, n in zip(LATENCY_BUCKETS_SECONDS, buckets, strict=True):
                cumulative += n
                labels = _labels(route=route, provider=provider, le=str(bound))
                lines.append(f"llm_request_duration_seconds_bucket{labels} {cumulative}")
            count = _latency_count[(route, provider)]
            labels = _labels(route=route, provider=provider, le="+Inf")
            lines.append(f"llm_request_duration_seconds_bucket{labels} {count}")
            base = _labels(route=route, provider=provider)
            lines.append(
                f"llm_request_duration_seconds_sum{base} {_latency_sum[(route, provider)]:.6f}"
            )
            lines.append(f"llm_request_duration_seconds_count{base} {count}")
    if provider_up is not None:
        lines += [
            "# HELP llm_provider_up 1 if the provider's circuit is closed and it is enabled.",
            "# TYPE llm_provider_up gauge",
        ]
        for name, up in sorted(provider_up.items()):
            lines.append(f"llm_provider_up{_labels(provider=name)} {up}")
    return "\n".join(lines) + "\n"


@register_reset
def metrics_reset() -> None:
    with _lock:
        for store in (_requests, _errors, _tokens, _cost, _latency_sum, _latency_count):
            store.clear()
        _latency_buckets.clear()
