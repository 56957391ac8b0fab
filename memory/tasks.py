"""Background jobs of memory on Django's Tasks API (database backend by default; see
docs/decisions/0030-background-jobs-django-tasks.md). Workers: `manage.py db_worker
--queue-name memory` (`make run` starts one). A job attempt that fails (a provider down, or any
other exception) re-enqueues the job with exponential backoff, at most
MEMORY_FACTS_MAX_ATTEMPTS attempts, and then fails its own attempt, so each attempt and its
traceback stay visible in admin (Tasks → Task results) beside the per-memory progress (Memory
facts → Fact extractions).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Sequence

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from django_tasks import task

from daarion.common.errors import ApiError

logger = logging.getLogger(__name__)
QUEUE = "memory"


class JobRetry(Exception):
    """This attempt failed; the job is enqueued again (see the message for when)."""


def backoff_delay(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: base · 2^(attempt-1), ±20 % jitter, at most 1 h."""
    base = float(settings.MEMORY_FACTS_BACKOFF_SECONDS) * 2 ** (attempt - 1)
    return min(3600.0, base) * random.uniform(0.8, 1.2)  # noqa: S311  (jitter, not crypto)


def _retry_at(attempt: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=backoff_delay(attempt))


# --- fact extraction ---------------------------------------------------------------------------


def _record_failure(memory_ids: list[int], attempt: int, error: str, retry_at) -> None:
    from memory.facts.models import ExtractionStatus, FactExtraction
    from memory.models import Memory

    status = ExtractionStatus.RETRYING if retry_at else ExtractionStatus.FAILED
    for memory_id in Memory.objects.filter(pk__in=memory_ids).values_list("pk", flat=True):
        FactExtraction.objects.update_or_create(
            memory_id=memory_id,
            defaults={
                "status": status,
                "attempts": attempt,
                "last_error": error[:2000],
                "next_attempt_at": retry_at,
            },
        )


@task(queue_name=QUEUE)
async def facts_extract(memory_ids: list[int], attempt: int = 1) -> dict:
    """Extract facts from `memory_ids`; the ones whose model call failed are retried later."""
    from memory.facts.extraction import MalformedReply
    from memory.facts.pipeline import memory_facts_extract

    totals = {"added": 0, "duplicates": 0, "superseded": 0}
    failed: list[int] = []
    errors: list[str] = []
    for memory_id in memory_ids:
        try:
            outcome = await memory_facts_extract(memory_id=memory_id, attempt=attempt)
        except (ApiError, MalformedReply) as exc:
            failed.append(memory_id)
            errors.append(f"memory {memory_id}: {type(exc).__name__}: {exc}")
            continue
        totals["added"] += outcome.added
        totals["duplicates"] += outcome.duplicates
        totals["superseded"] += outcome.superseded
    if not failed:
        return totals
    retry_at = None
    if attempt < int(settings.MEMORY_FACTS_MAX_ATTEMPTS):
        retry_at = _retry_at(attempt)
        await facts_extract.using(run_after=retry_at).aenqueue(
            memory_ids=failed, attempt=attempt + 1
        )
    await sync_to_async(_record_failure)(failed, attempt, "; ".join(errors), retry_at)
    when = f"retry at {retry_at:%H:%M:%S} UTC" if retry_at else "no retries left"
    raise JobRetry(f"{len(failed)} of {len(memory_ids)} memories failed ({when}): {errors[0]}")


# --- embeddings, reindex, knowledge ------------------------------------------------------------


def embed_pending_enqueue(*, memory_ids: Sequence[int]) -> None:
    memories_embed_pending.using(run_after=_retry_at(1)).enqueue(
        memory_ids=list(memory_ids), attempt=1
    )


@task(queue_name=QUEUE)
async def memories_embed_pending(memory_ids: list[int], attempt: int = 1) -> dict:
    """Finish embeddings a store could not make (provider down), with backoff."""
    from memory.models import Memory
    from memory.services import MemoryRef, memories_embed

    def pending() -> list[Memory]:
        return list(Memory.objects.filter(pk__in=memory_ids, embedding_pending=True).order_by("pk"))

    rows = await sync_to_async(pending)()
    by_microdao: dict[str, list] = {}
    for row in rows:
        by_microdao.setdefault(row.microdao_id, []).append(MemoryRef.of(row))
    done: set[int] = set()
    for refs in by_microdao.values():
        done |= await memories_embed(memories=refs, agent_id=None)
    left = [row.pk for row in rows if row.pk not in done]
    if left and attempt < int(settings.MEMORY_FACTS_MAX_ATTEMPTS):
        await memories_embed_pending.using(run_after=_retry_at(attempt + 1)).aenqueue(
            memory_ids=left, attempt=attempt + 1
        )
        raise JobRetry(f"{len(left)} memories still pending; retry scheduled")
    return {"embedded": len(done), "pending": len(left)}


@task(queue_name=QUEUE)
async def memories_reindex_job(
    microdao_id: str | None = None,
    agent_id: str | None = None,
    pending_only: bool = False,
    model: str | None = None,
    batch_size: int = 256,
) -> dict:
    """`reindex_memories --background`: progress is the ReindexJob row (cursor, counts)."""
    from memory.reindex import memories_reindex

    report = await memories_reindex(
        microdao_id=microdao_id,
        agent_id=agent_id,
        pending_only=pending_only,
        model=model,
        batch_size=batch_size,
    )
    return {
        "reindex_job": report.job_id,
        "total": report.total,
        "embedded": report.embedded,
        "failed": report.failed,
        "switched": report.switched,
    }


@task(queue_name=QUEUE)
async def kb_ingest_job(root: str, microdao_id: str, agent_id: str | None = None) -> dict:
    """`ingest_kb --background`: a folder of Markdown/text files as long-term knowledge."""
    from pathlib import Path

    from memory.knowledge import kb_ingest_folder

    report = await kb_ingest_folder(root=Path(root), microdao_id=microdao_id, agent_id=agent_id)
    return {
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "chunks": report.chunks,
        "pending_embedding": report.pending_embedding,
    }
