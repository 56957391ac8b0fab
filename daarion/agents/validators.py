from __future__ import annotations

import re

from django.core.exceptions import ValidationError

MICRODAO_ID_RE = re.compile(r"^microdao:[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
AGENT_ID_RE = re.compile(r"^agent:[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# django-ratelimit's syntax: "<count>/<period>" where period is s, m, h or d, optionally with a
# multiplier such as "100/5m".
RATE_RE = re.compile(r"^(?P<count>\d{1,9})/(?P<multiplier>\d{0,6})(?P<unit>[smhd])$")
RATE_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def validate_microdao_id(value: str) -> None:
    if not MICRODAO_ID_RE.match(value):
        raise ValidationError(
            "A microDAO id looks like 'microdao:daarion' (letters, digits, '_', '.', '-').",
            code="invalid_microdao_id",
        )


def validate_agent_id(value: str) -> None:
    if not AGENT_ID_RE.match(value):
        raise ValidationError(
            "An agent id looks like 'agent:sofia' (letters, digits, '_', '.', '-').",
            code="invalid_agent_id",
        )


def parse_rate(value: str) -> tuple[int, int]:
    """'10/m' → (10, 60); '100/5m' → (100, 300). Raises ValueError when malformed."""
    match = RATE_RE.match(value.strip())
    if not match:
        raise ValueError(f"rate must look like '10/m' or '100/5m', got {value!r}")
    multiplier = int(match["multiplier"] or 1)
    if multiplier == 0 or int(match["count"]) == 0:
        raise ValueError("rate count and period must be positive")
    return int(match["count"]), multiplier * RATE_UNIT_SECONDS[match["unit"]]


def validate_rate(value: str) -> None:
    try:
        parse_rate(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_rate") from exc
