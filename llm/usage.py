"""Cost arithmetic and the UsageLog writer.

Rows are handed to a background writer thread that inserts them in batches (bulk_create), so a
request never waits for the database. Trade-off, documented in the README: a row reaches the
database up to LLM_USAGE_FLUSH_SECONDS after the request; the buffer is flushed on normal
shutdown (atexit) and on `usage_flush()`; only a hard kill (SIGKILL, power loss) can lose the
rows of that last interval. A failed insert is retried; rows are kept until written.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from decimal import ROUND_HALF_UP, Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from llm.models import UsageLog

logger = logging.getLogger(__name__)

ONE_MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.00000001")  # UsageLog.cost_usd has 8 decimal places


def cost_usd(
    *,
    prompt_tokens: int,
    completion_tokens: int,
    input_price_per_1m: Decimal,
    output_price_per_1m: Decimal,
) -> Decimal:
    cost = (
        Decimal(prompt_tokens) * input_price_per_1m
        + Decimal(completion_tokens) * output_price_per_1m
    ) / ONE_MILLION
    return cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


class UsageWriter:
    """A daemon thread that batches UsageLog inserts. `submit()` never blocks or touches the DB."""

    def __init__(self, *, flush_seconds: float, batch_size: int) -> None:
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._pending: list[UsageLog] = []

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="llm-usage-writer", daemon=True
                )
                self._thread.start()

    def submit(self, row: UsageLog) -> None:
        self._ensure_started()
        self._queue.put(row)

    def submit_task(self, task) -> None:
        """Run a small DB write (e.g. a provider's health state) on the writer thread."""
        self._ensure_started()
        self._queue.put(task)

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until everything submitted so far is written. True if it was."""
        if self._thread is None or not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            waiters: list[threading.Event] = []
            deadline = time.monotonic() + self.flush_seconds
            try:
                item = self._queue.get()  # wait for the first row of a batch
                while True:
                    if isinstance(item, threading.Event):
                        waiters.append(item)
                        break  # a flush request: write now
                    if isinstance(item, UsageLog):
                        self._pending.append(item)
                    else:
                        self._run_task(item)
                    if len(self._pending) >= self.batch_size:
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=remaining)
                    except queue.Empty:
                        break
                self._write_pending()
            except Exception:  # the writer must survive anything; rows stay pending
                logger.exception("usage writer: batch failed, will retry")
                time.sleep(0.5)
            finally:
                if not self._pending:
                    for waiter in waiters:
                        waiter.set()
                else:
                    for waiter in waiters:  # retry the flush request with the next batch
                        self._queue.put(waiter)

    def _run_task(self, task) -> None:
        try:
            close_old_connections()
            task()
        except Exception:  # a side task (health state) must never stop usage writing
            logger.exception("usage writer: task failed")
        finally:
            close_old_connections()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        close_old_connections()
        try:
            UsageLog.objects.bulk_create(self._pending, batch_size=500)
            self._pending = []
        finally:
            # Honours CONN_MAX_AGE / the pool: the connection is not held between batches.
            close_old_connections()


usage_writer = UsageWriter(
    flush_seconds=getattr(settings, "LLM_USAGE_FLUSH_SECONDS", 0.2),
    batch_size=getattr(settings, "LLM_USAGE_BATCH_SIZE", 200),
)


def usage_record(row: UsageLog) -> None:
    """Queue one UsageLog row (sync, non-blocking: safe in cancelled/abandoned code paths)."""
    usage_writer.submit(row)
    from llm.budget import budget_note_spend  # local import: budget reads usage rows

    if row.microdao_id and row.cost_usd:
        budget_note_spend(microdao_id=row.microdao_id, cost=row.cost_usd)


def usage_flush(timeout: float = 30.0) -> bool:
    return usage_writer.flush(timeout)


async def usage_aflush() -> bool:
    return await sync_to_async(usage_flush, thread_sensitive=False)()


@atexit.register
def _flush_at_exit() -> None:
    if not usage_writer.flush(timeout=10.0):
        logger.error("usage writer: rows could not be written before exit")
