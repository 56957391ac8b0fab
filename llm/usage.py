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

No row can jam the writer: when the database refuses a batch while it still answers, the rows
are written one by one; a row refused on its own is sanitized (NUL removed, lone surrogates
replaced, long text cut) and written, or else set aside in UsageDeadLetter with the reason.
Every row carries a `row_id` and is inserted with ON CONFLICT DO NOTHING, so a retried or
replayed row is written once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import functools
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import astuple, dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal

import orjson
import psycopg
from django.conf import settings
from django.db import connection, connections

from daarion.common.daemon_thread import DaemonThread
from daarion.common.process_state import register_reset
from llm.models import UsageDeadLetter, UsageLog
from llm.usage_spool import usage_spool

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
    row_id: uuid.UUID = field(default_factory=uuid.uuid4)


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
    values = ", ".join([one] * count)
    row_id = connection.ops.quote_name("row_id")  # the column of UsageLog.row_id
    return (
        f"INSERT INTO {meta.db_table} ({columns}) VALUES {values}"  # noqa: S608
        f" ON CONFLICT ({row_id}) DO NOTHING"
    )


@functools.lru_cache(maxsize=1)
def insert_json_sql() -> str:
    """The INSERT of usage_rows_json()'s rows: one parameter whatever the batch size (so the
    statement can be prepared once), the same columns and ON CONFLICT as _insert_sql."""
    meta = UsageLog._meta
    quote = connection.ops.quote_name
    columns = []
    record = []
    for name in _ROW_FIELDS:
        model_field = meta.get_field(name)
        column = quote(model_field.column)  # type: ignore[union-attr,arg-type]
        columns.append(column)
        record.append(f"{column} {model_field.cast_db_type(connection)}")  # type: ignore[union-attr]
    names = ", ".join(columns)
    # Only identifiers and types from our own model: no user input in the SQL text.
    return (
        f"INSERT INTO {meta.db_table} ({names})"  # noqa: S608
        f" SELECT {names} FROM jsonb_to_recordset(%s::jsonb) AS r({', '.join(record)})"
        f" ON CONFLICT ({quote('row_id')}) DO NOTHING"
    )


_JSON_KEYS = [UsageLog._meta.get_field(n).column for n in _ROW_FIELDS]  # type: ignore[union-attr]


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)  # exact: numeric parses the text
    raise TypeError(type(value).__name__)


def usage_rows_json(rows: list[UsageRow]) -> str:
    """`rows` as the JSON array insert_json_sql() reads (timestamps in ISO 8601 with their
    offset, Decimals as text). Raises on text JSON cannot carry (lone surrogates): the caller
    then writes the rows another way (llm.usage_lane hands them to the writer thread)."""
    records = [
        dict(zip(_JSON_KEYS, [getattr(row, name) for name in _ROW_FIELDS], strict=True))
        for row in rows
    ]
    return orjson.dumps(records, default=_json_default).decode()


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


def _database_answers() -> bool:
    try:
        _writer_connection.get().execute("SELECT 1")
        return True
    except Exception:
        _writer_connection.close()
        return False


_TEXT_LIMITS: dict[str, int] = {
    name: limit
    for name in _ROW_FIELDS
    if (limit := getattr(UsageLog._meta.get_field(name), "max_length", None))
}
_INT_LIMITS = {
    "prompt_tokens": 2**31 - 1,
    "completion_tokens": 2**31 - 1,
    "total_tokens": 2**31 - 1,
    "attempt_count": 2**15 - 1,
}


def _clean_text(value: str, limit: int | None = None) -> str:
    # Via UTF-16 with surrogatepass: a lone surrogate becomes U+FFFD, a split pair is rejoined.
    text = value.replace("\x00", "").encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text[:limit] if limit else text


def _clean_json(value):
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {_clean_text(str(k)): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_json(v) for v in value]
    return value


def usage_row_sanitized(row: UsageRow) -> UsageRow:
    """A copy of `row` that PostgreSQL accepts whatever a caller put in its text."""
    values = {}
    for name in _ROW_FIELDS:
        value = getattr(row, name)
        if isinstance(value, str):
            value = _clean_text(value, _TEXT_LIMITS.get(name))
        elif name in _INT_LIMITS and isinstance(value, int):
            value = min(max(value, 0), _INT_LIMITS[name])
        elif name == "attempts":
            value = _clean_json(value)
        values[name] = value
    return UsageRow(**values)


def _dead_letter(row: UsageRow, reason: str) -> None:
    # json (not orjson) with ensure_ascii: escapes NUL and lone surrogates, so any row fits.
    payload = json.dumps(
        {name: getattr(row, name) for name in _ROW_FIELDS}, ensure_ascii=True, default=str
    )
    meta = UsageDeadLetter._meta
    _writer_connection.get().execute(
        f"INSERT INTO {meta.db_table} (created_at, request_id, reason, payload)"  # noqa: S608
        " VALUES (now(), %s, %s, %s)",
        [_clean_text(str(row.request_id), 64), _clean_text(reason, 2000), payload],
    )


def _write_isolated(row: UsageRow) -> None:
    """Write one row the database refused in a batch: as is, sanitized, or dead-lettered.

    Raises only when the database stops answering (an outage, not a bad row)."""
    try:
        insert_rows([row])
        return
    except Exception as exc:
        if not _database_answers():
            raise
        first_error = exc
    try:
        insert_rows([usage_row_sanitized(row)])
        logger.warning("usage writer: row %s written sanitized (%s)", row.row_id, first_error)
        return
    except Exception as exc:
        if not _database_answers():
            raise
        reason = f"{type(exc).__name__}: {exc} (as sent: {type(first_error).__name__})"
    try:
        _dead_letter(row, reason)
        logger.error("usage writer: row %s set aside in UsageDeadLetter: %s", row.row_id, reason)
    except Exception:
        if not _database_answers():
            raise
        # Nothing more to try: the row is logged in full and the writer goes on.
        logger.exception("usage writer: row dropped (dead letter refused): %r", row)


def _insert_isolating(rows: list[UsageRow]) -> None:
    """One INSERT of `rows`; if the database answers but refuses it, a row in it is bad: write
    them one by one so that it cannot hold the others back. Raises only on an outage (rows
    written before it are skipped on the retry by their row_id)."""
    try:
        insert_rows(rows)
    except Exception as exc:
        if not _database_answers():
            raise
        logger.warning("usage writer: batch refused (%s); writing rows one by one", exc)
        for row in rows:
            _write_isolated(row)


class _Flush:
    """A marker: set `done` once everything queued before it is written (to the database, or
    with `spooled_ok` to the database or the disk spool)."""

    def __init__(self, *, spooled_ok: bool) -> None:
        self.done = threading.Event()
        self.spooled_ok = spooled_ok


class UsageWriter:
    """A daemon thread doing group commits of UsageLog rows. `submit()` never blocks."""

    def __init__(self, *, batch_size: int) -> None:
        self.batch_size = batch_size
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = DaemonThread(self._run, "llm-usage-writer")
        # Rows taken from the queue but not yet committed, with their waiters.
        self._pending: list[tuple[UsageRow, asyncio.AbstractEventLoop | None, object]] = []

    def start(self) -> None:
        self._ensure_started()

    def _ensure_started(self) -> None:
        self._thread.ensure_started()

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

    def flush(self, timeout: float = 30.0, *, spooled_ok: bool = False) -> bool:
        """Block until everything submitted so far is written (`spooled_ok`: or spooled to
        disk, e.g. while the database is down). True if it was."""
        if not self._thread.alive:
            return not self._pending
        marker = _Flush(spooled_ok=spooled_ok)
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def _run(self) -> None:
        flushes: list[_Flush] = []
        while True:
            retrying = bool(self._pending) or usage_spool.spooling
            try:
                # Wait for work; with uncommitted or spooled rows, wake up to retry them.
                item = self._queue.get(timeout=_RETRY_SECONDS if retrying else _IDLE_SECONDS)
            except queue.Empty:
                item = None
                if not self._pending and not usage_spool.has_work():
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
            if self._pending or usage_spool.has_work():
                try:
                    self._write_pending()
                except Exception as exc:  # the writer must survive anything
                    _writer_connection.close()  # reconnect on the next attempt
                    logger.warning("usage writer: database unavailable (%s)", exc)
                    self._spool_pending()
            if not self._pending:
                in_database = not usage_spool.spooling
                for marker in flushes:
                    if in_database or marker.spooled_ok:
                        marker.done.set()
                flushes = [m for m in flushes if not m.done.is_set()]

    def _run_task(self, task: Callable[[], object]) -> None:
        try:
            task()
        except Exception:  # a side task (health state) must never stop usage writing
            logger.exception("usage writer: task failed")
            connection.close()

    def _write_pending(self) -> None:
        if usage_spool.has_work():  # rows spooled during an outage go in first, in order
            if not _database_answers():  # still down: keep appending to the same spool file
                raise ConnectionError("database unavailable; spooled rows wait")
            usage_spool.replay(_insert_isolating, UsageRow)
        rows = [row for row, _, _ in self._pending]
        for start in range(0, len(rows), self.batch_size):
            _insert_isolating(rows[start : start + self.batch_size])
        self._pending_done()

    def _spool_pending(self) -> None:
        """The database is unreachable: make the pending rows durable on disk instead."""
        if not self._pending:
            return
        try:
            count = usage_spool.append(row for row, _, _ in self._pending)
        except Exception:  # disk full / read-only: keep them in memory and retry
            logger.exception("usage writer: spooling failed; %d row(s) kept", len(self._pending))
            return
        logger.warning("usage writer: database unavailable; %d row(s) spooled to disk", count)
        self._pending_done()

    def _pending_done(self) -> None:
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
def usage_flush(timeout: float = 30.0, *, spooled_ok: bool = False) -> bool:
    return usage_writer.flush(timeout, spooled_ok=spooled_ok)


def usage_spool_replay_start() -> None:
    """At server start: if an earlier process left spooled rows, start the writer thread now, so
    they are replayed once the database answers even if this process never queues a row there
    (durable rows normally go through the loops' lanes, llm.usage_lane)."""
    if usage_spool.has_work():
        usage_writer.start()


def usage_writer_disconnect() -> None:
    """Write what is queued, then close the writer's connections (tests, before dropping a DB)."""
    usage_writer.submit_task(_writer_connection.close)
    usage_writer.submit_task(lambda: connection.close())  # the writer thread's own connection
    usage_writer.flush()


@atexit.register
def _flush_at_exit() -> None:
    # A graceful stop (SIGTERM ends uvicorn normally, then atexit): rows go to the database,
    # or to the disk spool while it is down, and are replayed by the next process.
    if not usage_writer.flush(timeout=10.0, spooled_ok=True):
        logger.error("usage writer: rows could not be written before exit")
