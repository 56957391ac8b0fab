"""Re-embedding memories: after a model change, for a subset, or to finish pending embeddings.

A run is a ReindexJob walking memories by id in batches; it saves its cursor after every batch,
so a crashed run resumes where it stopped when started again with the same options. New vectors
are written beside the old ones (one row per model), and a microDAO's queries switch to the new
model only when every one of its memories has a vector from it; the old vectors are then left
for `--prune` (other processes may still serve from them for up to the settings cache TTL).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from daarion.agents.access import agent_access_check
from daarion.agents.models import MicroDAO
from daarion.common.errors import BadRequest, NotFound
from memory.config import embedding_config_get
from memory.embeddings import embedding_model_dimensions
from memory.facts.reindex import (
    fact_embeddings_prune,
    facts_missing_vector_count,
    facts_reembed,
)
from memory.models import EmbeddingSpace, Memory, MemoryEmbedding, ReindexJob
from memory.services import (
    MemoryRef,
    memories_embed,
    memory_settings_set,
    memory_settings_switch_serving,
)
from memory.spaces import embedding_index_build, embedding_space_ensure


@dataclass(slots=True)
class ReindexReport:
    job_id: int
    resumed: bool
    total: int = 0
    embedded: int = 0
    failed: int = 0
    switched: dict[str, str] = field(default_factory=dict)  # microDAO → model now serving
    waiting: dict[str, tuple[str, int]] = field(default_factory=dict)  # → (model, missing)
    errors: dict[str, str] = field(default_factory=dict)  # model → its last embedding error
    facts_embedded: int = 0  # fact vectors written (memory/facts/reindex.py)
    facts_failed: int = 0
    facts_waiting: dict[str, int] = field(default_factory=dict)  # microDAO → facts lacking it

    @property
    def all_failed(self) -> bool:
        """Nothing could be embedded: a broken route (e.g. wrong dimensions), not bad luck."""
        return self.total > 0 and self.embedded == 0 and self.failed > 0


def _scope_microdaos(microdao_id: str | None, agent_id: str | None) -> tuple[str | None, list]:
    if agent_id is not None:
        owner = agent_access_check(agent_id=agent_id, microdao_id=microdao_id).microdao_id
        return owner, [owner]
    if microdao_id is not None:
        if not MicroDAO.objects.filter(pk=microdao_id).exists():
            raise NotFound(f"Unknown microDAO {microdao_id!r}.")
        return microdao_id, [microdao_id]
    return None, list(Memory.objects.order_by().values_list("microdao_id", flat=True).distinct())


def _job_start(
    *, microdao_id: str | None, agent_id: str | None, pending_only: bool, model: str | None
) -> tuple[ReindexJob, bool, list[str]]:
    microdao_id, microdaos = _scope_microdaos(microdao_id, agent_id)
    if model:
        if agent_id is not None:
            raise BadRequest("--model applies to a whole microDAO (or all): drop --agent.")
        dimensions = embedding_model_dimensions(model)
        if dimensions is None:
            raise BadRequest(f"{model!r} is not an embedding route of the LLM gateway.")
        # The index is built after the vectors are in (one bulk build), unless it exists.
        embedding_space_ensure(model=model, dimensions=dimensions, build_index=False)
        memory_settings_set(microdao_id=microdao_id, embedding_model=model, build_index=False)
    job = ReindexJob.objects.filter(
        status=ReindexJob.Status.RUNNING,
        microdao_id=microdao_id,
        agent_id=agent_id,
        pending_only=pending_only,
        target_model=model or "",
    ).first()
    if job is not None:
        return job, True, microdaos
    job = ReindexJob.objects.create(
        microdao_id=microdao_id,
        agent_id=agent_id,
        pending_only=pending_only,
        target_model=model or "",
    )
    return job, False, microdaos


def _remaining(job: ReindexJob):
    queryset = Memory.objects.filter(pk__gt=job.cursor)
    if job.microdao_id:
        queryset = queryset.filter(microdao_id=job.microdao_id)
    if job.agent_id:
        queryset = queryset.filter(agent_id=job.agent_id)
    if job.pending_only:
        queryset = queryset.filter(embedding_pending=True)
    if job.target_model:  # a switch: only memories still missing the new model's vector
        queryset = queryset.exclude(
            Exists(MemoryEmbedding.objects.filter(memory=OuterRef("pk"), model=job.target_model))
        )
    return queryset.order_by("pk")


def _next_batch(job: ReindexJob, size: int) -> list[MemoryRef]:
    fields = ("id", "text", "microdao_id", "agent_id", "tier", "kind")
    return [MemoryRef.of(memory) for memory in _remaining(job).only(*fields)[:size]]


def _job_advance(job: ReindexJob, *, cursor: int, embedded: int, failed: int) -> None:
    job.cursor = cursor
    job.embedded += embedded
    job.failed += failed
    job.save(update_fields=["cursor", "embedded", "failed"])


def _models_for(job: ReindexJob, microdao_id: str) -> tuple[str, ...]:
    config = embedding_config_get(microdao_id=microdao_id)
    if job.pending_only:
        return config.write_models
    return (job.target_model or config.desired_model,)


def missing_count(*, microdao_id: str, model: str) -> int:
    return (
        Memory.objects.filter(microdao_id=microdao_id)
        .exclude(Exists(MemoryEmbedding.objects.filter(memory=OuterRef("pk"), model=model)))
        .count()
    )


def _finish(job: ReindexJob, microdaos: list[str], report: ReindexReport) -> None:
    """Switch each microDAO whose new model now covers every memory; report the others."""
    job.status = ReindexJob.Status.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at"])
    for microdao_id in microdaos:
        config = embedding_config_get(microdao_id=microdao_id)
        if not config.switching:
            continue
        missing = missing_count(microdao_id=microdao_id, model=config.desired_model)
        facts_missing = facts_missing_vector_count(
            microdao_id=microdao_id, model=config.desired_model
        )
        if missing:
            report.waiting[microdao_id] = (config.desired_model, missing)
        if facts_missing:
            report.facts_waiting[microdao_id] = facts_missing
        if missing or facts_missing:  # facts would lose their vector side after the switch
            continue
        space = EmbeddingSpace.objects.filter(pk=config.desired_model).first()
        if space is not None:
            embedding_index_build(space=space)  # no-op if it exists
        memory_settings_switch_serving(microdao_id=microdao_id, model=config.desired_model)
        report.switched[microdao_id] = config.desired_model


async def memories_reindex(
    *,
    microdao_id: str | None = None,
    agent_id: str | None = None,
    pending_only: bool = False,
    model: str | None = None,
    batch_size: int = 256,
    on_total: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> ReindexReport:
    job, resumed, microdaos = await sync_to_async(_job_start)(
        microdao_id=microdao_id, agent_id=agent_id, pending_only=pending_only, model=model
    )
    report = ReindexReport(job_id=job.pk, resumed=resumed)
    report.total = await _remaining(job).acount()
    if on_total:
        on_total(report.total)
    while True:
        batch = await sync_to_async(_next_batch)(job, batch_size)
        if not batch:
            break
        groups: dict[str, list[MemoryRef]] = defaultdict(list)
        for memory in batch:
            groups[memory.microdao_id].append(memory)
        embedded = 0
        for group_microdao, memories in groups.items():
            models = await sync_to_async(_models_for)(job, group_microdao)
            done = await memories_embed(
                memories=memories, agent_id=None, models=models, failures=report.errors
            )
            embedded += len(done)
        failed = len(batch) - embedded
        report.embedded += embedded
        report.failed += failed
        await sync_to_async(_job_advance)(
            job, cursor=batch[-1].id, embedded=embedded, failed=failed
        )
        if on_batch:
            on_batch(len(batch))
    # The facts of the scope, with the same models (a switch waits for them as well).
    for fact_microdao in microdaos:
        models = await sync_to_async(_models_for)(job, fact_microdao)
        written, failed = await facts_reembed(
            microdao_id=fact_microdao,
            agent_id=job.agent_id or None,
            models=models,
            only_missing=job.pending_only or bool(job.target_model),
            failures=report.errors,
        )
        report.facts_embedded += written
        report.facts_failed += failed
    await sync_to_async(_finish)(job, microdaos, report)
    return report


def embeddings_prune() -> int:
    """Delete vectors (of memories and facts) of models no microDAO serves or is switching to."""
    keep = Q(pk__in=[])
    microdaos = MemoryEmbedding.objects.order_by().values_list("microdao_id", flat=True).distinct()
    for microdao_id in microdaos:
        config = embedding_config_get(microdao_id=microdao_id)
        keep |= Q(microdao_id=microdao_id, model__in=set(config.write_models))
    deleted, _ = MemoryEmbedding.objects.exclude(keep).delete()
    from memory.facts.models import Fact

    keep_facts = {
        microdao_id: set(embedding_config_get(microdao_id=microdao_id).write_models)
        for microdao_id in Fact.objects.order_by().values_list("microdao_id", flat=True).distinct()
    }
    return deleted + fact_embeddings_prune(keep_facts)
