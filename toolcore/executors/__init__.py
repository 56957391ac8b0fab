"""Executors run a resolved, permitted, validated call: one module per executor kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Execution:
    result: Any
    http_status: int | None = None
    attempts: int = 1
