"""What other apps get back from memory's services and selectors (detached from the ORM)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class MemoryItem:
    id: str
    tier: str  # "short", "mid" or "long"
    text: str
    score: float  # 0..1: fused rank for mid/long, recency for short
    metadata: dict[str, Any]
    created_at: dt.datetime
    kind: str = "conversation"
    # mid/long: how the score came about (vector/text rank and score, weights, fused); else None.
    score_breakdown: dict[str, Any] | None = None


@dataclass(slots=True)
class MemoryQueryResult:
    items: list[MemoryItem]
    timing_ms: dict[str, float] = field(default_factory=dict)
    # Set when retrieval ran without vectors (embedding provider down): full-text only.
    degraded: str | None = None


@dataclass(frozen=True, slots=True)
class MemoryStoreResult:
    ids: list[str]
    pending_embedding: bool
    created: bool = True  # False when an idempotency key matched an earlier store


@dataclass(frozen=True, slots=True)
class DocumentIngestResult:
    document_id: int
    chunks: int
    changed: bool  # False when the checksum matched (nothing re-chunked)
    pending_embedding: int = 0


@dataclass(frozen=True, slots=True)
class TenantScope:
    """Whose memories a caller may read: always one microDAO; one agent unless shared."""

    microdao_id: str
    agent_id: str
    shares_memory: bool
