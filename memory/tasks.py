"""Background jobs of memory on Django's Tasks API (database backend by default; see
docs/decisions/0022-background-jobs-django-tasks.md). Workers: `manage.py db_worker
--queue-name memory` (`make run` starts one). A job attempt that fails (a provider down, or any
other exception) re-enqueues the job with exponential backoff, at most
MEMORY_FACTS_MAX_ATTEMPTS attempts, and then fails its own attempt, so each attempt and its
traceback stay visible in admin (Tasks → Task results) beside the per-memory progress (Memory
facts → Fact extractions).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

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


def _connection_reset() -> None:
    """After an unexpected exception: drop a connection a database error left unusable (the
    worker's next statements, e.g. the retry's INSERT, then reconnect)."""
    from django.db import connection

    if connection.in_atomic_block:
        return
    connection.close_if_unusable_or_obsolete()
    if connection.connection is not None and connection.connection.info.transaction_status:
        connection.close()  # a failed statement outside atomic left the session mid-transaction


async def _retry_or_fail(job, kwargs: dict, attempt: int) -> dt.datetime | None:
    """Re-enqueue `job` with backoff while attempts are left; the retry's time (None: no more)."""
    if attempt >= int(settings.MEMORY_FACTS_MAX_ATTEMPTS):
        return None
    retry_at = _retry_at(attempt)
    await job.using(run_after=retry_at).aenqueue(**kwargs, attempt=attempt + 1)
    return retry_at


def _when(retry_at: dt.datetime | None) -> str:
    return f"retry at {retry_at:%H:%M:%S} UTC" if retry_at else "no retries left"


def _memory_timeout() -> float:
    return float(settings.MEMORY_FACTS_MEMORY_TIMEOUT_SECONDS)


async def _run_retrying(job, kwargs: dict, attempt: int, run: Callable[[], Awaitable[dict]]):
    """Run a whole job; any exception re-enqueues it with backoff (bounded) and fails this
    attempt visibly (JobRetry chained to the cause: its traceback is in admin)."""
    try:
        return await run()
    except JobRetry:
        raise
    except Exception as exc:
        logger.exception("%s failed (attempt %d)", job.name, attempt)
        await sync_to_async(_connection_reset)()
        retry_at = await _retry_or_fail(job, kwargs, attempt)
        raise JobRetry(
            f"attempt {attempt} failed ({_when(retry_at)}): {type(exc).__name__}: {exc}"
        ) from exc


@task(queue_name=QUEUE)
async def facts_extract(memory_ids: list[int], attempt: int = 1) -> dict:
    """Extract facts from `memory_ids`. A memory whose extraction raised anything — the gateway
    down, a database error, a bug, a timeout — is retried later with backoff (bounded), and its
    FactExtraction row says "retrying" / "failed" with the error, never "running"."""
    from memory.facts.extraction import MalformedReply
    from memory.facts.pipeline import memory_facts_extract

    totals = {"added": 0, "duplicates": 0, "superseded": 0}
    failed: list[int] = []
    errors: list[str] = []
    first: Exception | None = None
    for memory_id in memory_ids:
        try:
            async with asyncio.timeout(_memory_timeout()):
                outcome = await memory_facts_extract(memory_id=memory_id, attempt=attempt)
        except Exception as exc:
            if not isinstance(exc, ApiError | MalformedReply):
                logger.exception("fact extraction of memory %s failed", memory_id)
                await sync_to_async(_connection_reset)()
            failed.append(memory_id)
            errors.append(f"memory {memory_id}: {type(exc).__name__}: {exc}")
            first = first or exc
            continue
        totals["added"] += outcome.added
        totals["duplicates"] += outcome.duplicates
        totals["superseded"] += outcome.superseded
    if not failed:
        return totals
    retry_at = await _retry_or_fail(facts_extract, {"memory_ids": failed}, attempt)
    await sync_to_async(_record_failure)(failed, attempt, "; ".join(errors), retry_at)
    raise JobRetry(
        f"{len(failed)} of {len(memory_ids)} memories failed ({_when(retry_at)}): {errors[0]}"
    ) from first


# --- embeddings, reindex, knowledge ------------------------------------------------------------


def embed_pending_enqueue(*, memory_ids: Sequence[int]) -> None:
    memories_embed_pending.using(run_after=_retry_at(1)).enqueue(
        memory_ids=list(memory_ids), attempt=1
    )


@task(queue_name=QUEUE)
async def memories_embed_pending(memory_ids: list[int], attempt: int = 1) -> dict:
    """Finish embeddings a store could not make (provider down), with backoff."""
    kwargs = {"memory_ids": memory_ids}
    return await _run_retrying(
        memories_embed_pending, kwargs, attempt, lambda: _embed_pending(memory_ids, attempt)
    )


async def _embed_pending(memory_ids: list[int], attempt: int) -> dict:
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
    attempt: int = 1,
) -> dict:
    """`reindex_memories --background`: progress is the ReindexJob row (cursor, counts); a
    retry after a failure resumes that row from its cursor."""
    from memory.reindex import memories_reindex

    kwargs: dict[str, Any] = {
        "microdao_id": microdao_id,
        "agent_id": agent_id,
        "pending_only": pending_only,
        "model": model,
        "batch_size": batch_size,
    }

    async def run() -> dict:
        report = await memories_reindex(**kwargs)
        return {
            "reindex_job": report.job_id,
            "total": report.total,
            "embedded": report.embedded,
            "failed": report.failed,
            "switched": report.switched,
            "facts_embedded": report.facts_embedded,
        }

    return await _run_retrying(memories_reindex_job, kwargs, attempt, run)


@task(queue_name=QUEUE)
async def kb_ingest_job(
    root: str, microdao_id: str, agent_id: str | None = None, attempt: int = 1
) -> dict:
    """`ingest_kb --background`: a folder of Markdown/text files as long-term knowledge
    (idempotent: a retry skips the files already ingested unchanged)."""
    from pathlib import Path

    from memory.knowledge import kb_ingest_folder

    async def run() -> dict:
        report = await kb_ingest_folder(root=Path(root), microdao_id=microdao_id, agent_id=agent_id)
        return {
            "added": report.added,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "removed": report.removed,
            "chunks": report.chunks,
            "pending_embedding": report.pending_embedding,
        }

    kwargs = {"root": root, "microdao_id": microdao_id, "agent_id": agent_id}
    return await _run_retrying(kb_ingest_job, kwargs, attempt, run)
