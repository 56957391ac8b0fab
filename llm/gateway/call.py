"""What one gateway request has learned so far: the state its single UsageLog row is made of.

Admission fills in the microDAO, the attempts loop the attempts and the target that answered;
accounting turns it into the row (once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from llm.registry import TargetInfo
from llm.types import Attempt


@dataclass(slots=True)
class Call:
    kind: str
    model: str
    request_id: str
    agent_id: str = ""
    microdao_id: str = ""
    stream: bool = False
    started: float = field(default_factory=time.perf_counter)
    attempts: list[Attempt] = field(default_factory=list)
    target: TargetInfo | None = None  # the target that answered (set by the attempts loop)
    fallback_used: bool = False  # it was not the first target tried
    recorded: bool = False
    reserved: Decimal = Decimal(0)  # budget reserved at admission, released when accounted

    @property
    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def attempt_dicts(self) -> list[dict]:
        return [a.as_dict() for a in self.attempts]
