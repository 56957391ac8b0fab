"""A per-provider circuit breaker (in-process).

closed → (LLM_BREAKER_FAILURES consecutive failures) → open: the provider is skipped for
LLM_BREAKER_COOLDOWN_SECONDS → half-open: one trial request is let through; success closes the
circuit, failure opens it for another cool-down. Only failures that say something about the
provider count (timeouts, connection errors, 5xx, 429) — not a caller's bad request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from daarion.common.process_state import register_reset


@dataclass(slots=True)
class _State:
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False
    last_error: str = ""


class CircuitBreaker:
    def __init__(
        self,
        *,
        threshold: Callable[[], int],
        cooldown: Callable[[], float],
        on_change: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self._threshold = threshold
        self._cooldown = cooldown
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()
        self.on_change = on_change  # (provider, "open"|"closed", detail)

    def allow(self, provider: str) -> bool:
        state = self._states.get(provider)
        if state is None or state.opened_at is None:
            return True
        with self._lock:
            if time.monotonic() - state.opened_at < self._cooldown():
                return False
            if state.trial_in_flight:
                return False
            state.trial_in_flight = True  # half-open: exactly one trial
            return True

    def retry_after(self, provider: str) -> float:
        state = self._states.get(provider)
        if state is None or state.opened_at is None:
            return 0.0
        return max(0.0, self._cooldown() - (time.monotonic() - state.opened_at))

    def record_success(self, provider: str) -> None:
        state = self._states.get(provider)
        if state is None or (state.failures == 0 and state.opened_at is None):
            return
        with self._lock:
            was_open = state.opened_at is not None
            state.failures = 0
            state.opened_at = None
            state.trial_in_flight = False
        if was_open and self.on_change:
            self.on_change(provider, "closed", "")

    def release_trial(self, provider: str) -> None:
        """A half-open trial ended without a verdict (e.g. cancelled): allow another one."""
        state = self._states.get(provider)
        if state is not None and state.trial_in_flight:
            with self._lock:
                state.trial_in_flight = False

    def record_failure(self, provider: str, detail: str) -> None:
        with self._lock:
            state = self._states.setdefault(provider, _State())
            state.failures += 1
            state.last_error = detail
            reopen = state.opened_at is not None  # a failed half-open trial
            newly_open = not reopen and state.failures >= self._threshold()
            if reopen or newly_open:
                state.opened_at = time.monotonic()
                state.trial_in_flight = False
        if newly_open and self.on_change:
            self.on_change(provider, "open", detail)

    def state(self, provider: str) -> str:
        state = self._states.get(provider)
        if state is None or state.opened_at is None:
            return "closed"
        if time.monotonic() - state.opened_at >= self._cooldown():
            return "half_open"
        return "open"

    def snapshot(self) -> dict[str, dict]:
        return {
            name: {"state": self.state(name), "failures": s.failures, "last_error": s.last_error}
            for name, s in list(self._states.items())
        }

    def reset(self) -> None:
        with self._lock:
            self._states.clear()


breaker = CircuitBreaker(
    threshold=lambda: getattr(settings, "LLM_BREAKER_FAILURES", 5),
    cooldown=lambda: getattr(settings, "LLM_BREAKER_COOLDOWN_SECONDS", 30.0),
)
register_reset(breaker.reset)
