"""The one adapter between memory and the LLM gateway's embedding routes.

Embeddings go through `llm.gateway.embed`, so they are routed, logged and costed like chat.
Failures arrive as `daarion.common.errors.ApiError` subclasses (the gateway's error tree);
callers decide whether that means "pending" (store) or "full-text only" (query).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from daarion.common.errors import ApiError

__all__ = ["ApiError", "embed_texts", "embedding_model_dimensions", "embedding_model_names"]


async def embed_texts(
    *,
    model: str,
    texts: Sequence[str],
    agent_id: str | None,
    microdao_id: str | None,
    input_type: str = "passage",
) -> tuple[list[list[float]], int]:
    """Vectors for `texts` (batched) and their dimensions. Raises ApiError on failure.

    `input_type`: "passage" for texts being stored, "query" for a search query."""
    from llm import gateway  # imported on use: memory loads before the gateway's registry

    vectors: list[list[float]] = []
    dimensions = 0
    batch = settings.MEMORY_EMBED_BATCH_SIZE
    for start in range(0, len(texts), batch):
        result = await gateway.embed(
            model=model,
            texts=list(texts[start : start + batch]),
            agent_id=agent_id,
            microdao_id=microdao_id,
            input_type=input_type,
        )
        vectors.extend(result.vectors)
        dimensions = result.dimensions
    return vectors, dimensions


def embedding_model_names() -> list[str]:
    from llm import gateway

    return [info.name for info in gateway.embedding_models()]


def embedding_model_dimensions(model: str) -> int | None:
    from llm import gateway

    for info in gateway.embedding_models():
        if info.name == model:
            return info.dimensions
    return None
