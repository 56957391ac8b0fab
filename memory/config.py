"""Which embedding model a microDAO's memories use, read on the hot path from a cache.

Global row (microDAO empty) → per-microDAO row → settings.MEMORY_DEFAULT_EMBEDDING_MODEL (and
the same order for the hybrid ranking's weights, ending at settings.MEMORY_*_WEIGHT). The
microDAO row's `serving_model` is pinned the first time its memories are embedded, so changing
the global choice later does not switch anyone before `reindex_memories` has built the vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Q

from daarion.common.registry_cache import RegistryCache
from memory.models import MemorySettings


@dataclass(frozen=True, slots=True)
class EmbeddingConfig:
    microdao_id: str
    desired_model: str  # what the operator chose
    serving_model: str  # what queries use now
    serving_pinned: bool  # False until the microDAO's first embedding is stored
    vector_weight: float = 1.0  # hybrid ranking: weight of the vector list in the fusion
    text_weight: float = 1.0  # … and of the full-text list

    @property
    def write_models(self) -> tuple[str, ...]:
        """Models a new memory is embedded with: during a switch, both old and new."""
        if self.desired_model == self.serving_model:
            return (self.serving_model,)
        return (self.serving_model, self.desired_model)

    @property
    def switching(self) -> bool:
        return self.desired_model != self.serving_model


config_cache: RegistryCache[EmbeddingConfig] = RegistryCache("memory-settings", ttl=30.0)


def global_embedding_model() -> str:
    row = MemorySettings.objects.filter(microdao__isnull=True).first()
    return (row.embedding_model if row else "") or settings.MEMORY_DEFAULT_EMBEDDING_MODEL


def _load(microdao_id: str) -> EmbeddingConfig:
    rows = {
        row.microdao_id: row
        for row in MemorySettings.objects.filter(Q(microdao_id=microdao_id) | Q(microdao=None))
    }
    global_row = rows.get(None)
    global_model = (
        global_row.embedding_model if global_row else ""
    ) or settings.MEMORY_DEFAULT_EMBEDDING_MODEL
    own = rows.get(microdao_id)
    desired = (own.embedding_model if own else "") or global_model
    serving = own.serving_model if own and own.serving_model else ""
    return EmbeddingConfig(
        microdao_id=microdao_id,
        desired_model=desired,
        serving_model=serving or desired,
        serving_pinned=bool(serving),
        vector_weight=_weight(own, global_row, "vector_weight", settings.MEMORY_VECTOR_WEIGHT),
        text_weight=_weight(own, global_row, "text_weight", settings.MEMORY_TEXT_WEIGHT),
    )


def _weight(own, global_row, field: str, default: float) -> float:
    """The microDAO's weight, else the global row's, else the setting."""
    for row in (own, global_row):
        value = getattr(row, field, None) if row is not None else None
        if value is not None:
            return float(value)
    return float(default)


def embedding_config_get(*, microdao_id: str) -> EmbeddingConfig:
    return config_cache.get(microdao_id, lambda: _load(microdao_id))


async def embedding_config_aget(*, microdao_id: str) -> EmbeddingConfig:
    cached = config_cache.peek(microdao_id)
    if cached is not None:
        return cached
    return await sync_to_async(embedding_config_get)(microdao_id=microdao_id)
