"""Request and response shapes of /internal/agent-memory (SPEC §3.2 and the old service's)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from memory.types import MemoryItem

KindName = Literal["conversation", "kb", "task", "dao-event", "channel-context"]


class QueryIn(Schema):
    agent_id: str = Field(max_length=64)
    microdao_id: str = Field(max_length=64)
    query: str
    limit: int = 5
    channel_id: str | None = Field(None, max_length=200)
    tiers: list[str] | None = None
    kind_filter: list[str] | None = None  # the old memory-orchestrator's filter


class ItemOut(Schema):
    id: str
    tier: str
    text: str
    score: float
    metadata: dict[str, Any]
    created_at: dt.datetime
    # The same values under the old memory-orchestrator's names.
    kind: str
    content: str
    meta: dict[str, Any]
    # Retrieved (mid/long) items: vector_rank/vector_score, text_rank/text_score, the weights and
    # the fused value the order comes from; null for the short-term block.
    score_breakdown: dict[str, Any] | None = None

    @classmethod
    def of(cls, item: MemoryItem) -> dict:
        return {
            "id": item.id,
            "tier": item.tier,
            "text": item.text,
            "score": item.score,
            "metadata": item.metadata,
            "created_at": item.created_at,
            "kind": item.kind,
            "content": item.text,
            "meta": item.metadata,
            "score_breakdown": item.score_breakdown,
        }


class QueryOut(Schema):
    items: list[ItemOut]
    total: int
    query: str
    timing_ms: dict[str, float]
    degraded: str | None = None


class StoreIn(Schema):
    agent_id: str = Field(max_length=64)
    microdao_id: str = Field(max_length=64)
    channel_id: str | None = Field(None, max_length=200)
    content: dict[str, Any]
    metadata: dict[str, Any] | None = None
    kind: KindName = "conversation"  # required by the old service, optional here
    idempotency_key: str | None = Field(None, max_length=200)


class StoreOut(Schema):
    ok: bool = True
    id: str  # the old service's single id
    ids: list[str]
    pending_embedding: bool
    created: bool


class StoreBatchItem(Schema):
    channel_id: str | None = Field(None, max_length=200)
    content: dict[str, Any]
    metadata: dict[str, Any] | None = None
    kind: KindName = "conversation"
    idempotency_key: str | None = Field(None, max_length=200)


class StoreBatchIn(Schema):
    agent_id: str = Field(max_length=64)
    microdao_id: str = Field(max_length=64)
    items: list[StoreBatchItem]


class StoreBatchResult(Schema):
    id: str
    pending_embedding: bool
    created: bool


class StoreBatchOut(Schema):
    ok: bool = True
    ids: list[str]
    results: list[StoreBatchResult]


class SummarizeIn(Schema):
    agent_id: str = Field(max_length=64)
    microdao_id: str = Field(max_length=64)
    channel_id: str | None = Field(None, max_length=200)
    limit: int = 10


class SummarizeOut(Schema):
    summary: str
    items_processed: int


class RecentOut(Schema):
    items: list[ItemOut]
    total: int


class DocumentIn(Schema):
    microdao_id: str = Field(max_length=64)
    agent_id: str | None = Field(None, max_length=64)
    title: str = Field(min_length=1, max_length=300)
    text: str
    source: str | None = Field(None, max_length=1000)


class DocumentOut(Schema):
    id: int
    microdao_id: str
    agent_id: str | None
    title: str
    source: str
    checksum: str
    size_chars: int
    chunks: int | None = None
    changed: bool | None = None
    pending_embedding: int | None = None
    updated_at: dt.datetime | None = None


class DeletedOut(Schema):
    ok: bool = True
    deleted: str
