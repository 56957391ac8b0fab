"""Fact vectors in a reindex (`reindex_memories`, also `--background`).

Facts are embedded like memories, one vector per model (FactEmbedding). A reindex walks the
facts of its scope after the memories, with the same models: a model switch (`--model`) and
`--pending` embed the facts still missing that model's vector, a plain reindex re-embeds them
all. A microDAO switches to the new model only when its memories AND facts all have it, so
retrieval never loses the facts' vector side after a switch. Facts marked incorrect are never
retrieved and are skipped. `--prune` deletes fact vectors of unused models too.
"""

from __future__ import annotations

from collections.abc import Sequence

from asgiref.sync import sync_to_async
from django.db.models import Exists, OuterRef, Q

from daarion.common.errors import ApiError
from memory.embeddings import embed_texts
from memory.facts.models import Fact, FactEmbedding, FactStatus
from memory.facts.pipeline import fact_text_for_embedding
from memory.facts.services import Vector, fact_vector_save

FACT_BATCH = 128


def _facts(*, microdao_id: str, agent_id: str | None, model: str, only_missing: bool):
    queryset = Fact.objects.filter(microdao_id=microdao_id).exclude(status=FactStatus.INCORRECT)
    if agent_id is not None:
        queryset = queryset.filter(agent_id=agent_id)
    if only_missing:
        queryset = queryset.exclude(
            Exists(FactEmbedding.objects.filter(fact=OuterRef("pk"), model=model))
        )
    return queryset


def facts_missing_vector_count(*, microdao_id: str, model: str) -> int:
    return _facts(microdao_id=microdao_id, agent_id=None, model=model, only_missing=True).count()


def _batch(
    *, microdao_id: str, agent_id: str | None, model: str, only_missing: bool, after: int
) -> list[tuple[int, str, str]]:
    queryset = _facts(
        microdao_id=microdao_id, agent_id=agent_id, model=model, only_missing=only_missing
    )
    return list(
        queryset.filter(pk__gt=after)
        .order_by("pk")
        .values_list("pk", "subject", "text")[:FACT_BATCH]
    )


def _save(rows: list[tuple[int, str, str]], model: str, vectors: list[list[float]]) -> None:
    for (fact_id, _, _), values in zip(rows, vectors, strict=True):
        fact_vector_save(fact=Fact(pk=fact_id), vector=Vector(model=model, values=values))


async def facts_reembed(
    *,
    microdao_id: str,
    agent_id: str | None,
    models: Sequence[str],
    only_missing: bool,
    failures: dict[str, str] | None = None,
) -> tuple[int, int]:
    """Embed the scope's facts with `models`; (vectors written, vectors failed). A failed batch
    is logged in `failures` (model → error) and left for the next run."""
    written = failed = 0
    for model in models:
        after = 0
        while rows := await sync_to_async(_batch)(
            microdao_id=microdao_id,
            agent_id=agent_id,
            model=model,
            only_missing=only_missing,
            after=after,
        ):
            after = rows[-1][0]
            try:
                vectors, _ = await embed_texts(
                    model=model,
                    texts=[fact_text_for_embedding(subject, text) for _, subject, text in rows],
                    agent_id=None,
                    microdao_id=microdao_id,
                )
            except ApiError as exc:
                if failures is not None:
                    failures[model] = exc.message
                failed += len(rows)
                continue
            await sync_to_async(_save)(rows, model, vectors)
            written += len(rows)
    return written, failed


def fact_embeddings_prune(keep: dict[str, set[str]]) -> int:
    """Delete fact vectors of models their microDAO neither serves nor is switching to."""
    condition = Q(pk__in=[])
    for microdao_id, models in keep.items():
        condition |= Q(fact__microdao_id=microdao_id, model__in=models)
    deleted, _ = FactEmbedding.objects.exclude(condition).delete()
    return deleted
