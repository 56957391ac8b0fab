"""One memory's extraction: ask the model for facts, then fold each into the agent's facts.

Per extracted fact: (1) same normalized text as a current fact → a restatement, no model call;
(2) otherwise the nearest current facts by vector (and those with the same subject) are the only
candidates; none → add; (3) else the model decides add / duplicate / supersede among them.
Runs in a worker, never on the write path; a gateway failure raises (the task retries).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections

from daarion.common.errors import ApiError
from memory.config import embedding_config_aget
from memory.embeddings import embed_texts
from memory.facts.config import facts_config_get
from memory.facts.extraction import (
    Candidate,
    ExtractedFact,
    fact_decide_llm,
    facts_extract_llm,
)
from memory.facts.models import (
    ExtractionStatus,
    Fact,
    FactEmbedding,
    FactExtraction,
    FactStatus,
)
from memory.facts.normalize import normalize_subject, text_hash
from memory.facts.services import Vector, fact_add, fact_current_by_hash, fact_restate
from memory.models import FactsState, Memory
from memory.search import vector_literal

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    status: str
    added: int = 0
    duplicates: int = 0
    superseded: int = 0


def fact_text_for_embedding(subject: str, text: str) -> str:
    return f"{subject}: {text}"


async def fact_vector(*, subject: str, text: str, microdao_id: str, agent_id: str) -> Vector | None:
    """The fact's vector with the microDAO's serving model (None when embeddings are down)."""
    config = await embedding_config_aget(microdao_id=microdao_id)
    try:
        vectors, _ = await embed_texts(
            model=config.serving_model,
            texts=[fact_text_for_embedding(subject, text)],
            agent_id=agent_id,
            microdao_id=microdao_id,
        )
    except ApiError as exc:
        logger.warning("fact embedding failed (%s): candidates by subject only", exc.error_type)
        return None
    return Vector(model=config.serving_model, values=vectors[0])


def _candidates(memory: Memory, subject: str, vector: Vector | None) -> list[Candidate]:
    limit = int(settings.MEMORY_FACTS_CANDIDATES)
    found: dict[int, Candidate] = {}
    if vector is not None:
        sql = f"""SELECT f.id, f.subject, f.text FROM {Fact._meta.db_table} f
            JOIN {FactEmbedding._meta.db_table} e ON e.fact_id = f.id AND e.model = %(model)s
            WHERE f.microdao_id = %(microdao)s AND f.agent_id = %(agent)s
              AND f.status = 'current' AND (e.embedding <=> %(vector)s::vector) <= %(max)s
            ORDER BY e.embedding <=> %(vector)s::vector, f.id DESC
            LIMIT %(limit)s"""  # noqa: S608  (table names from the models)
        params = {
            "model": vector.model,
            "microdao": memory.microdao_id,
            "agent": memory.agent_id,
            "vector": vector_literal(vector.values),
            "max": float(settings.MEMORY_FACTS_MAX_DISTANCE),
            "limit": limit,
        }
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for fact_id, fact_subject, fact_text in cursor.fetchall():
                found[fact_id] = Candidate(fact_id, fact_subject, fact_text)
    key = normalize_subject(subject)
    same_subject = Fact.objects.filter(
        microdao_id=memory.microdao_id,
        agent_id=memory.agent_id,
        status=FactStatus.CURRENT,
        subject__iexact=subject,
    ).order_by("-valid_from")[:limit]
    for fact in same_subject:
        if normalize_subject(fact.subject) == key:
            found.setdefault(fact.pk, Candidate(fact.pk, fact.subject, fact.text))
    return list(found.values())


def _extraction_start(memory_id: int) -> tuple[Memory | None, FactExtraction | None]:
    memory = Memory.objects.filter(pk=memory_id).first()
    if memory is None:  # forgotten before the job ran
        return None, None
    job, _ = FactExtraction.objects.get_or_create(
        memory=memory, defaults={"status": ExtractionStatus.RUNNING}
    )
    return memory, job


def _extraction_save(job: FactExtraction, outcome: Outcome, attempts: int) -> None:
    job.status = outcome.status
    job.attempts = attempts
    job.added, job.duplicates, job.superseded = (
        outcome.added,
        outcome.duplicates,
        outcome.superseded,
    )
    job.last_error = ""
    job.next_attempt_at = None
    job.save()
    Memory.objects.filter(pk=job.memory_id).update(facts_state=FactsState.DONE)


async def fact_integrate(
    *, memory: Memory, fact: ExtractedFact, route: str, outcome: Outcome
) -> None:
    agent_id = memory.agent_id
    if agent_id is None:  # knowledge without an agent is never extracted
        return
    digest = text_hash(fact.text)
    same = await sync_to_async(fact_current_by_hash)(
        microdao_id=memory.microdao_id, agent_id=agent_id, digest=digest
    )
    if same is not None:
        await sync_to_async(fact_restate)(fact_id=same.pk, memory_id=memory.pk)
        outcome.duplicates += 1
        return
    vector = await fact_vector(
        subject=fact.subject,
        text=fact.text,
        microdao_id=memory.microdao_id,
        agent_id=agent_id,
    )
    candidates = await sync_to_async(_candidates)(memory, fact.subject, vector)
    action, target = "add", None
    if candidates:
        decision = await fact_decide_llm(
            route=route,
            fact=fact,
            candidates=candidates,
            agent_id=agent_id,
            microdao_id=memory.microdao_id,
        )
        action, target = decision.action, decision.fact_id
    if action == "duplicate" and target is not None:
        await sync_to_async(fact_restate)(fact_id=target, memory_id=memory.pk)
        outcome.duplicates += 1
        return
    _, created = await sync_to_async(fact_add)(
        memory=memory,
        subject=fact.subject,
        text=fact.text,
        vector=vector,
        supersede_id=target if action == "supersede" else None,
    )
    if not created:
        outcome.duplicates += 1
    elif action == "supersede":
        outcome.superseded += 1
    else:
        outcome.added += 1


async def memory_facts_extract(*, memory_id: int, attempt: int = 1) -> Outcome:
    """Extract and fold in one memory's facts. Idempotent: a finished memory is skipped, and a
    rerun after a partial failure only re-links facts it already added."""
    memory, job = await sync_to_async(_extraction_start)(memory_id)
    if memory is None or job is None:
        return Outcome(status="gone")
    if job.status in (ExtractionStatus.DONE, ExtractionStatus.SKIPPED):
        return Outcome(status=job.status)
    config = await sync_to_async(facts_config_get)(microdao_id=memory.microdao_id)
    if not config.enabled or memory.agent_id is None or memory.document_id is not None:
        outcome = Outcome(status=ExtractionStatus.SKIPPED)
        await sync_to_async(_extraction_save)(job, outcome, attempt)
        return outcome
    facts = await facts_extract_llm(
        route=config.route,
        text=memory.text,
        agent_id=memory.agent_id,
        microdao_id=memory.microdao_id,
    )
    outcome = Outcome(status=ExtractionStatus.DONE)
    # One agent's facts are folded in by one worker at a time: two workers deciding about the
    # same subject at once would each see the other's fact missing (two "current" answers).
    lock = await sync_to_async(_agent_lock, thread_sensitive=False)(memory)
    try:
        for fact in facts:
            await fact_integrate(memory=memory, fact=fact, route=config.route, outcome=outcome)
    finally:
        await sync_to_async(lock.close, thread_sensitive=False)()  # closing releases the lock
    await sync_to_async(_extraction_save)(job, outcome, attempt)
    return outcome


_LOCK_NAMESPACE = 0x0FAC7  # first key of our advisory locks: "facts"


def _agent_lock(memory: Memory) -> psycopg.Connection:
    """A session-level advisory lock on a connection of its own (like the usage writer's): no
    transaction stays open across the model calls, and the lock cannot stay behind on a
    connection Django reuses — closing this one (or the process dying) releases it."""
    params = connections["default"].get_connection_params()
    conn = psycopg.connect(**params, autocommit=True)
    try:
        conn.execute(
            "SELECT pg_advisory_lock(%s, hashtext(%s))",
            [_LOCK_NAMESPACE, f"{memory.microdao_id}/{memory.agent_id}"],
        )
    except BaseException:
        conn.close()
        raise
    return conn
