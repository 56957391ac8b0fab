"""Writes on facts: add / restate / supersede (never destructive), forget, mark incorrect, edit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from daarion.common.errors import BadRequest, NotFound
from memory.facts.models import (
    Fact,
    FactAudit,
    FactEmbedding,
    FactOrigin,
    FactSource,
    FactStatus,
)
from memory.facts.normalize import normalize_subject, text_hash
from memory.models import Memory
from memory.search import vector_literal
from memory.types import TenantScope


@dataclass(frozen=True, slots=True)
class Vector:
    model: str
    values: Sequence[float]


def _link(fact: Fact, memory_ids: Sequence[int]) -> None:
    FactSource.objects.bulk_create(
        [FactSource(fact=fact, memory_id=memory_id) for memory_id in memory_ids],
        ignore_conflicts=True,
    )


def _save_vector(fact: Fact, vector: Vector | None) -> None:
    if vector is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {FactEmbedding._meta.db_table} (fact_id, model, embedding) "  # noqa: S608
            "VALUES (%s, %s, %s::vector) ON CONFLICT (fact_id, model) "
            "DO UPDATE SET embedding = EXCLUDED.embedding",
            [fact.pk, vector.model, vector_literal(vector.values)],
        )


def fact_vector_save(*, fact: Fact, vector: Vector | None) -> None:
    _save_vector(fact, vector)


def fact_current_by_hash(*, microdao_id: str, agent_id: str, digest: str) -> Fact | None:
    return Fact.objects.filter(
        microdao_id=microdao_id, agent_id=agent_id, text_hash=digest, status=FactStatus.CURRENT
    ).first()


def fact_restate(*, fact_id: int, memory_id: int) -> Fact:
    """The same fact said again: one more source, no new row."""
    fact = Fact.objects.get(pk=fact_id)
    _link(fact, [memory_id])
    return fact


def fact_add(
    *,
    memory: Memory,
    subject: str,
    text: str,
    vector: Vector | None,
    supersede_id: int | None = None,
    origin: str = FactOrigin.EXTRACTED,
    valid_from: dt.datetime | None = None,
    source_ids: Sequence[int] | None = None,
) -> tuple[Fact, bool]:
    """Add a fact (closing `supersede_id`'s validity); returns (fact, created).

    An identical current fact committed meanwhile (another worker) makes this a restatement:
    the unique current-text constraint decides, inside one transaction.
    """
    agent_id = memory.agent_id
    if agent_id is None:
        raise ValueError("facts belong to an agent; this memory has none")
    valid_from = valid_from or memory.created_at
    digest = text_hash(text)
    try:
        with transaction.atomic():
            fact = Fact.objects.create(
                microdao_id=memory.microdao_id,
                agent_id=agent_id,
                subject=subject[:200],
                text=text,
                text_hash=digest,
                origin=origin,
                valid_from=valid_from,
            )
            if supersede_id is not None:
                _close(supersede_id, by=fact)
                fact.refresh_from_db(fields=["status", "valid_until", "superseded_by"])
            _link(fact, source_ids if source_ids is not None else [memory.pk])
            _save_vector(fact, vector)
            return fact, True
    except IntegrityError:
        existing = fact_current_by_hash(
            microdao_id=memory.microdao_id, agent_id=agent_id, digest=digest
        )
        if existing is None:
            raise
        _link(existing, [memory.pk])
        return existing, False


def _close(fact_id: int, *, by: Fact) -> None:
    """Close a fact's validity (row-locked). An update that arrives late — said before the
    fact it would replace — goes into the history instead: closed at once by that fact."""
    old = Fact.objects.select_for_update().get(pk=fact_id)
    if old.status != FactStatus.CURRENT:
        return
    if by.valid_from < old.valid_from:
        Fact.objects.filter(pk=by.pk).update(
            status=FactStatus.SUPERSEDED, valid_until=old.valid_from, superseded_by=old
        )
        return
    old.status = FactStatus.SUPERSEDED
    old.valid_until = by.valid_from
    old.superseded_by = by
    old.save(update_fields=["status", "valid_until", "superseded_by"])


def fact_get_in_scope(*, scope: TenantScope, fact_id: int) -> Fact:
    queryset = Fact.objects.filter(pk=fact_id, microdao_id=scope.microdao_id)
    if not scope.shares_memory:
        queryset = queryset.filter(agent_id=scope.agent_id)
    fact = queryset.first()
    if fact is None:  # another tenant's fact is as unknown as a missing one
        raise NotFound(f"No fact {fact_id} in this agent's memory.")
    return fact


def fact_mark_incorrect(*, scope: TenantScope, fact_id: int, actor: str) -> Fact:
    """Never retrieved again (also not with `as_of`), kept for audit."""
    with transaction.atomic():
        fact = fact_get_in_scope(scope=scope, fact_id=fact_id)
        previous = fact.status
        fact.status = FactStatus.INCORRECT
        fact.save(update_fields=["status"])
        FactAudit.objects.create(
            action=FactAudit.Action.INCORRECT,
            microdao_id=fact.microdao_id,
            agent_id=fact.agent_id,
            fact_id=fact.pk,
            actor=actor,
            detail={"previous_status": previous, "text": fact.text},
        )
    return fact


def fact_edit(
    *, scope: TenantScope, fact_id: int, text: str, subject: str | None, actor: str
) -> Fact:
    """A corrected version superseding the current one (the old text stays in the history)."""
    text = (text or "").strip()
    if not text or len(text) > 2000:
        raise BadRequest("`text` must have 1 to 2000 characters.")
    if subject is not None and not (0 < len(subject.strip()) <= 200):
        raise BadRequest("`subject` must have 1 to 200 characters.")
    with transaction.atomic():
        old = fact_get_in_scope(scope=scope, fact_id=fact_id)
        old = Fact.objects.select_for_update().get(pk=old.pk)
        if old.status != FactStatus.CURRENT:
            raise BadRequest(f"Fact {fact_id} is {old.status}: edit its current version.")
        subject = (subject or old.subject).strip()[:200]
        if text_hash(text) == old.text_hash and subject == old.subject:
            raise BadRequest("The new text is the same as the current one.")
        now = timezone.now()
        # Close first: a subject-only edit keeps the text hash, which only one current row may have.
        Fact.objects.filter(pk=old.pk).update(status=FactStatus.SUPERSEDED, valid_until=now)
        new = Fact.objects.create(
            microdao_id=old.microdao_id,
            agent_id=old.agent_id,
            subject=subject,
            text=text,
            text_hash=text_hash(text),
            origin=FactOrigin.EDITED,
            valid_from=now,
        )
        Fact.objects.filter(pk=old.pk).update(superseded_by=new)
        _link(new, list(old.sources.values_list("memory_id", flat=True)))
        FactAudit.objects.create(
            action=FactAudit.Action.EDIT,
            microdao_id=old.microdao_id,
            agent_id=old.agent_id,
            fact_id=new.pk,
            actor=actor,
            detail={"previous_fact_id": old.pk, "previous_text": old.text, "text": new.text},
        )
    return new


# --- forget ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForgetReport:
    memories: int
    facts: int
    reopened: int


def memories_forget(*, memory_ids: Sequence[int], actor: str) -> ForgetReport:
    """Hard-delete memories with their vectors and every fact only they support; audited.

    A fact also supported by another memory is kept with its other sources (the audit row lists
    it under `facts_kept`): that memory still states it. A fact that one of the deleted
    facts had superseded becomes current again: the evidence of the change is gone.
    """
    memory_ids = list(memory_ids)
    with transaction.atomic():
        memories = list(
            Memory.objects.filter(pk__in=memory_ids).values("id", "microdao_id", "agent_id")
        )
        if not memories:
            return ForgetReport(0, 0, 0)
        ids = [row["id"] for row in memories]
        linked = set(FactSource.objects.filter(memory_id__in=ids).values_list("fact_id", flat=True))
        kept = set(
            FactSource.objects.filter(fact_id__in=linked)
            .exclude(memory_id__in=ids)
            .values_list("fact_id", flat=True)
        )
        doomed = sorted(linked - kept)
        kept_by_memory: dict[int, set[int]] = {}
        for memory_id, fact_id in FactSource.objects.filter(
            memory_id__in=ids, fact_id__in=kept
        ).values_list("memory_id", "fact_id"):
            kept_by_memory.setdefault(memory_id, set()).add(fact_id)
        reopened = _reopen_predecessors(doomed)
        deleted_facts = Fact.objects.filter(pk__in=doomed).delete()[1].get("facts.Fact", 0)
        Memory.objects.filter(pk__in=ids).delete()  # cascades: vectors, sources, extraction rows
        FactAudit.objects.bulk_create(
            FactAudit(
                action=FactAudit.Action.FORGET,
                microdao_id=row["microdao_id"],
                agent_id=row["agent_id"] or "",
                memory_id=row["id"],
                actor=actor,
                detail={
                    "facts_deleted": doomed,
                    "facts_reopened": reopened,
                    # Still stated by another memory: kept, minus this source (to drop such a
                    # fact too, mark it incorrect or forget its other sources).
                    "facts_kept": sorted(kept_by_memory.get(row["id"], ())),
                },
            )
            for row in memories
        )
    return ForgetReport(len(ids), deleted_facts, len(reopened))


def _reopen_predecessors(doomed: list[int]) -> list[int]:
    reopened = []
    doomed_set = set(doomed)
    for old in Fact.objects.filter(superseded_by_id__in=doomed, status=FactStatus.SUPERSEDED):
        if old.pk in doomed_set:
            continue
        clash = Fact.objects.filter(
            microdao_id=old.microdao_id,
            agent_id=old.agent_id,
            text_hash=old.text_hash,
            status=FactStatus.CURRENT,
        ).exclude(pk__in=doomed)
        if clash.exists():
            continue
        Fact.objects.filter(pk=old.pk).update(
            status=FactStatus.CURRENT, valid_until=None, superseded_by=None
        )
        reopened.append(old.pk)
    return reopened


def subject_key(subject: str) -> str:
    return normalize_subject(subject)


# --- extraction bookkeeping --------------------------------------------------------------------


def extraction_reset(*, memory_ids: Sequence[int]) -> None:
    """Run these memories' extraction again (a finished one is otherwise skipped)."""
    from memory.facts.models import FactExtraction

    FactExtraction.objects.filter(memory_id__in=list(memory_ids)).delete()


def memories_missing_extraction(*, microdao_id: str | None = None) -> list[int]:
    """Agent memories of microDAOs with extraction on that were never extracted and have no
    job waiting: older memories, and "queued" ones whose job was lost (a non-database queue, or
    a deleted job row). Pending ones are for `facts_pending_sweep`."""
    from datetime import timedelta

    from django_tasks_db.models import DBTaskResult

    from memory.facts.config import facts_config_get
    from memory.facts.models import ExtractionStatus, FactExtraction

    queued: set[int] = set()
    waiting = DBTaskResult.objects.filter(
        task_path="memory.tasks.facts_extract", status__in=["READY", "RUNNING"]
    ).values_list("args_kwargs", flat=True)
    for args in waiting:
        queued.update(args.get("kwargs", {}).get("memory_ids", []))
    from memory.models import FactsState

    memories = (
        Memory.objects.filter(
            agent__isnull=False,
            document__isnull=True,
            created_at__lt=timezone.now() - timedelta(minutes=1),  # a store may be queueing it now
        )
        .exclude(facts_state=FactsState.PENDING)  # claimed by facts_pending_sweep (exactly once)
        # Finished ones stay finished (`--memory ID` runs one again); "running"/"retrying" ones
        # whose job is gone (a worker killed mid-job, a lost retry) are queued again.
        .exclude(
            pk__in=FactExtraction.objects.filter(
                status__in=[
                    ExtractionStatus.DONE,
                    ExtractionStatus.SKIPPED,
                    ExtractionStatus.FAILED,
                ]
            ).values("memory_id")
        )
    )
    if microdao_id is not None:
        memories = memories.filter(microdao_id=microdao_id)
    enabled: dict[str, bool] = {}
    out = []
    for memory_id, microdao in memories.order_by("pk").values_list("pk", "microdao_id"):
        if microdao not in enabled:
            enabled[microdao] = facts_config_get(microdao_id=microdao).enabled
        if enabled[microdao] and memory_id not in queued:
            out.append(memory_id)
    return out
