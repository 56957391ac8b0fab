"""Queue fact extraction off the write path, exactly once, and recover what a crash left behind.

The write path pays nothing extra: the store's own INSERT marks a memory `facts_state =
pending` (a column of the same row, decided from the cached extraction config). After the store
has returned, `facts_dispatch_submit(ids)` hands the ids to a daemon thread, which in ONE
transaction claims the rows that are still pending (pending → queued, `FOR UPDATE SKIP LOCKED`)
and inserts the job row (django-tasks-db writes it on the same connection, in the same
transaction). Both commit or neither does, so:

- every queued memory has exactly one job (a second claim finds the row no longer pending);
- if the process dies before the thread commits, the memory simply stays pending, and the next
  sweep queues it. Every server process sweeps when its thread starts and then every
  MEMORY_FACTS_SWEEP_SECONDS; `manage.py extract_facts --missing` does the same on demand. Only
  memories pending for longer than MEMORY_FACTS_SWEEP_GRACE_SECONDS are swept, so a sweep does
  not race a live store (if it does, the claim still makes it harmless).

The thread lingers MEMORY_FACTS_DISPATCH_LINGER_SECONDS after a store, so under load the ids of
many stores share one claim and one job row.
With a non-database Tasks backend (RQ) the job is enqueued inside the transaction but is not
part of it: a crash between the two leaves a memory "queued" without a job, which
`extract_facts --missing` also finds (docs/memory-facts.md).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import connection, transaction

from daarion.common.daemon_thread import DaemonThread
from daarion.common.process_state import register_reset

logger = logging.getLogger(__name__)

_IDLE_SECONDS = 1.0  # close the thread's DB connection after this long without work
_MAX_BATCH = 500  # memory ids per job at most


def facts_claim_and_enqueue(memory_ids: Sequence[int]) -> list[int]:
    """Claim the still-pending memories among `memory_ids` and queue their job; the claimed ids.

    One transaction of two statements: the state change and the job row commit together."""
    from memory.models import FactsState, Memory
    from memory.tasks import facts_extract

    claimed: list[int] = []
    ids = sorted(set(memory_ids))
    for start in range(0, len(ids), _MAX_BATCH):
        chunk = ids[start : start + _MAX_BATCH]
        with transaction.atomic(), connection.cursor() as cursor:
            # One statement claims: a concurrent claimer of the same row waits for our commit,
            # then finds it no longer pending (PostgreSQL re-checks the WHERE): 0 rows for it.
            cursor.execute(
                f"UPDATE {Memory._meta.db_table} SET facts_state = %s "  # noqa: S608
                "WHERE id = ANY(%s) AND facts_state = %s RETURNING id",
                [FactsState.QUEUED, chunk, FactsState.PENDING],
            )
            rows = sorted(row[0] for row in cursor.fetchall())
            if not rows:
                continue
            facts_extract.enqueue(memory_ids=rows)
        claimed += rows
    return claimed


def facts_pending_sweep(*, older_than: float | None = None, microdao_id: str | None = None) -> int:
    """Queue memories left pending (a crash between the store and its dispatch); how many."""
    import datetime as dt

    from django.utils import timezone

    from memory.models import FactsState, Memory

    grace = settings.MEMORY_FACTS_SWEEP_GRACE_SECONDS if older_than is None else older_than
    rows = Memory.objects.filter(
        facts_state=FactsState.PENDING,
        created_at__lt=timezone.now() - dt.timedelta(seconds=float(grace)),
    )
    if microdao_id is not None:
        rows = rows.filter(microdao_id=microdao_id)
    total = 0
    while ids := list(rows.order_by("pk").values_list("pk", flat=True)[:_MAX_BATCH]):
        claimed = facts_claim_and_enqueue(ids)
        total += len(claimed)
        if not claimed:  # all locked by another claimer right now: theirs
            break
    return total


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


class FactsDispatcher:
    """A daemon thread that claims and queues pending memories (`submit()` never blocks)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = DaemonThread(self._run, "memory-facts-dispatch")
        self._next_sweep = 0.0  # sweep as soon as the thread starts

    def _ensure_started(self) -> None:
        self._thread.ensure_started()

    def submit(self, memory_ids: Sequence[int]) -> None:
        if memory_ids:
            self._ensure_started()
            self._queue.put(list(memory_ids))

    def submit_task(self, task: Callable[[], object]) -> None:
        self._ensure_started()
        self._queue.put(task)

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until everything submitted so far is dispatched (tests, benchmarks)."""
        if not self._thread.alive:
            return True
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def _run(self) -> None:
        while True:
            wait = max(0.0, min(_IDLE_SECONDS, self._next_sweep - time.monotonic()))
            try:
                item = self._queue.get(timeout=wait) if wait else self._queue.get_nowait()
            except queue.Empty:
                item = None
            ids: list[int] = []
            flushes: list[_Flush] = []
            # Linger a little after the first store: one claim and one job row then serve every
            # store of that window (under load, many), not one each.
            linger_until = time.monotonic() + float(settings.MEMORY_FACTS_DISPATCH_LINGER_SECONDS)
            while item is not None:
                if isinstance(item, _Flush):
                    flushes.append(item)
                elif isinstance(item, list):
                    ids += item
                else:
                    self._guarded(item)
                remaining = linger_until - time.monotonic()
                try:
                    if flushes or remaining <= 0 or len(ids) >= _MAX_BATCH:
                        item = self._queue.get_nowait()
                    else:
                        item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    item = None
            if ids:
                self._guarded(functools.partial(facts_claim_and_enqueue, ids))
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + float(settings.MEMORY_FACTS_SWEEP_SECONDS)
                self._guarded(facts_pending_sweep)
            for marker in flushes:
                marker.done.set()
            if not ids and not flushes and wait:
                connection.close()  # idle: don't hold a server connection

    @staticmethod
    def _guarded(task: Callable[[], object]) -> None:
        try:
            task()
        except Exception:  # the ids stay pending in the database: the next sweep takes them
            logger.exception("fact extraction dispatch failed; the sweep will retry")
            with contextlib.suppress(Exception):
                connection.close()


facts_dispatcher = FactsDispatcher()


def facts_dispatch_submit(memory_ids: Sequence[int]) -> None:
    """After a store: queue extraction of these (pending) memories off the response path."""
    facts_dispatcher.submit(memory_ids)


@register_reset  # (tests) a test's dispatches are done before the next test starts
def facts_dispatch_flush(timeout: float = 30.0) -> bool:
    return facts_dispatcher.flush(timeout)


def facts_dispatch_disconnect() -> None:
    """Dispatch what is queued, then close the thread's connection (tests, before dropping a DB)."""
    facts_dispatcher.submit_task(lambda: connection.close())
    facts_dispatcher.flush()
