"""Readiness: each enabled provider's last known state (no network calls, no secrets).

"Last known" = this process's circuit breaker when it has seen traffic, else the state stored by
`manage.py check_providers` / the admin's "test provider" action. Ready when at least one
enabled provider is not known to be failing (a dead provider with a live fallback degrades
answers, it does not make the service unready).
"""

from __future__ import annotations

from llm.breaker import breaker
from llm.models import HealthState, Provider


def provider_states() -> dict[str, dict]:
    circuits = breaker.snapshot()
    states: dict[str, dict] = {}
    for name, kind, stored, checked_at in Provider.objects.filter(enabled=True).values_list(
        "name", "kind", "health_state", "health_checked_at"
    ):
        circuit = circuits.get(name, {}).get("state", "closed")
        if circuit == "open":
            state = HealthState.FAILING
        elif name in circuits and circuits[name]["failures"] == 0:
            state = HealthState.OK
        else:
            state = stored  # type: ignore[assignment]
        states[name] = {
            "kind": kind,
            "state": state,
            "circuit": circuit,
            "checked_at": checked_at.isoformat() if checked_at else None,
        }
    return states


def check_providers() -> dict:
    states = provider_states()
    ok = not states or any(s["state"] != HealthState.FAILING for s in states.values())
    return {"ok": ok, "providers": states}
