"""Cost arithmetic and the UsageLog writer.

Rows go to one background writer thread that inserts whatever has queued up in a single
bulk_create ("group commit"): at low load each row is written at once, under load many
requests share one INSERT, and the event loop never blocks on the database.

By default (LLM_USAGE_DURABLE) a request awaits the commit of its row before it answers, so a
request that got an answer always has its row, whatever happens to the process afterwards; the
wait is bounded (LLM_USAGE_DURABLE_TIMEOUT_SECONDS) so a database outage degrades to "row kept in
memory and retried" instead of hanging answers. Rows of abandoned streams and cancelled requests
are queued without waiting. A failed insert is retried; rows stay queued until written. On a
normal interpreter exit the queue is drained (atexit).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import functools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import astuple, dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal

import orjson
import psycopg
from django.conf import settings
from django.db import connection, connections

from daarion.common.process_state import register_reset
from llm.models import UsageLog

logger = logging.getLogger(__name__)

ONE_MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.00000001")  # UsageLog.cost_usd has 8 decimal places
_RETRY_SECONDS = 0.5
_IDLE_SECONDS = 1.0


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
    if not cost:
        return Decimal(0)
    return cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class UsageRow:
    """One UsageLog row, as plain values (cheaper to build than a model instance)."""

    created_at: dt.datetime
    request_id: str
    kind: str
    agent_id: str
    microdao_id: str
    model: str
    provider: str
    physical_model: str
    attempts: list = field(default_factory=list)
    attempt_count: int = 0
    fallback_used: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: Decimal = Decimal(0)
    status: str = "ok"
    error_type: str = ""
    error_message: str = ""
    stream: bool = False


_ROW_FIELDS = [f.name for f in fields(UsageRow)]


@functools.lru_cache(maxsize=64)
def _insert_sql(count: int) -> str:
    meta = UsageLog._meta
    columns = ", ".join(
        connection.ops.quote_name(meta.get_field(n).column)  # type: ignore[union-attr,arg-type]
        for n in _ROW_FIELDS
    )
    one = "(" + ", ".join("%s::jsonb" if n == "attempts" else "%s" for n in _ROW_FIELDS) + ")"
    # Only identifiers from our own model and placeholders: no user input in the SQL text.
    return f"INSERT INTO {meta.db_table} ({columns}) VALUES " + ", ".join([one] * count)  # noqa: S608


class _WriterConnection:
    """The writer's own PostgreSQL connection, outside Django's pool.

    Requests wait for the writer (durable usage) while their threads may hold pooled
    connections; if the writer queued for the pool behind them, both would wait for each
    other. A private connection also lets the whole session use asynchronous commit without
    affecting any other connection.
    """

    def __init__(self) -> None:
        self._conn: psycopg.Connection | None = None

    def get(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            params = connections["default"].get_connection_params()
            conn = psycopg.connect(**params, autocommit=True)
            if not getattr(settings, "LLM_USAGE_SYNCHRONOUS_COMMIT", False):
                # PostgreSQL's asynchronous commit for this session only: a commit returns
                # before the WAL reaches the disk (flushed within ~0.6 s). Rows survive our
                # process dying; only a crash of the database server in that window loses them.
                conn.execute("SET synchronous_commit TO OFF")
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


_writer_connection = _WriterConnection()


def insert_rows(rows: list[UsageRow]) -> None:
    """One multi-row INSERT (a plain statement: the ORM's per-row work was most of the cost)."""
    params: list = []
    attempts_index = _ROW_FIELDS.index("attempts")
    for row in rows:
        values = list(astuple(row))
        values[attempts_index] = orjson.dumps(values[attempts_index]).decode()
        params.extend(values)
    _writer_connection.get().execute(_insert_sql(len(rows)), params)


class _Flush:
    """A marker: set `done` once everything queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


class UsageWriter:
    """A daemon thread doing group commits of UsageLog rows. `submit()` never blocks."""

    def __init__(self, *, batch_size: int) -> None:
        self.batch_size = batch_size
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.RLock()
        # Rows taken from the queue but not yet committed, with their waiters.
        self._pending: list[tuple[UsageRow, asyncio.AbstractEventLoop | None, object]] = []

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="llm-usage-writer", daemon=True
                )
                self._thread.start()

    def submit(self, row: UsageRow, *, wait: bool = False) -> asyncio.Future | None:
        """Queue `row`; with `wait`, return a future of the running loop set once committed."""
        self._ensure_started()
        if not wait:
            self._queue.put((row, None, None))
            return None
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((row, loop, future))
        return future

    def submit_task(self, task: Callable[[], object]) -> None:
        """Run a small DB write (e.g. a provider's health state) on the writer thread."""
        self._ensure_started()
        self._queue.put(task)

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until everything submitted so far is written. True if it was."""
        if self._thread is None or not self._thread.is_alive():
            return not self._pending
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def _run(self) -> None:
        flushes: list[_Flush] = []
        while True:
            try:
                # Wait for work; with uncommitted rows, wake up to retry them.
                item = self._queue.get(timeout=_RETRY_SECONDS if self._pending else _IDLE_SECONDS)
            except queue.Empty:
                item = None
                if not self._pending:
                    _writer_connection.close()  # idle: don't hold a server connection
                    connection.close()  # (and tasks' pooled one)
                    continue
            while item is not None:
                if isinstance(item, _Flush):
                    flushes.append(item)
                elif isinstance(item, tuple):
                    self._pending.append(item)
                else:
                    self._run_task(item)
                if len(self._pending) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if self._pending:
                try:
                    self._write_pending()
                except Exception:  # the writer must survive anything; rows stay pending
                    logger.exception(
                        "usage writer: insert failed; %d row(s) kept for retry", len(self._pending)
                    )
            if not self._pending:
                for marker in flushes:
                    marker.done.set()
                flushes = []

    def _run_task(self, task: Callable[[], object]) -> None:
        try:
            task()
        except Exception:  # a side task (health state) must never stop usage writing
            logger.exception("usage writer: task failed")
            connection.close()

    def _write_pending(self) -> None:
        try:
            for start in range(0, len(self._pending), self.batch_size):
                insert_rows([row for row, _, _ in self._pending[start : start + self.batch_size]])
        except Exception:
            _writer_connection.close()  # reconnect on the next attempt
            raise
        done, self._pending = self._pending, []
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for _, loop, future in done:
            if loop is not None:
                by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():
            # A closed loop raises RuntimeError: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, futures)


def _resolve(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


usage_writer = UsageWriter(batch_size=getattr(settings, "LLM_USAGE_BATCH_SIZE", 500))


def usage_record(row: UsageRow, *, wait: bool = False) -> asyncio.Future | None:
    """Queue one UsageLog row (sync, non-blocking: safe in cancelled/abandoned code paths).

    With `wait=True` (inside a running loop) returns a future set once the row is committed.
    """
    return usage_writer.submit(row, wait=wait)


async def usage_wait(future: asyncio.Future | None) -> None:
    """Wait (bounded) until a row queued with wait=True is committed."""
    if future is None:
        return
    timeout = getattr(settings, "LLM_USAGE_DURABLE_TIMEOUT_SECONDS", 5.0)
    try:
        await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        logger.error("usage row not committed within %.1fs; kept queued for retry", timeout)


@register_reset  # (tests) a test's usage rows are written before the next test starts
def usage_flush(timeout: float = 30.0) -> bool:
    return usage_writer.flush(timeout)


def usage_writer_disconnect() -> None:
    """Write what is queued, then close the writer's connections (tests, before dropping a DB)."""
    usage_writer.submit_task(_writer_connection.close)
    usage_writer.submit_task(connection.close)
    usage_writer.flush()


@atexit.register
def _flush_at_exit() -> None:
    if not usage_writer.flush(timeout=10.0):
        logger.error("usage writer: rows could not be written before exit")
