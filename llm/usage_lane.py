"""The durable-usage fast lane: a request's UsageLog row committed from its own event loop.

With durable usage a request answers only after its row is committed. Through the writer
thread (llm.usage) that wait is four thread wake-ups long — loop → writer thread → database →
writer thread → loop (`call_soon_threadsafe`) — and on a busy machine every wake-up waits for a
CPU (and the writer for the GIL): measured ~6 ms of a 9 ms request. Here each event loop has one
writer task with its own async psycopg connection: rows queued while an INSERT is in flight go
into the next one (group commit, as in the thread), and the only wake-ups left are the
database's answer to the loop.

Same statement, same guarantees: the request still waits (bounded, llm.usage.usage_wait) for
the commit. If the lane's INSERT fails — database down, connection lost — its rows are handed to
the writer thread, which keeps and retries them (and whatever else llm.usage does with rows it
cannot write); the request's future then resolves when the thread commits them. Rows that need
no waiting (abandoned streams, cancelled calls, code without a loop) keep using the thread.
`usage_lane_flush` waits for rows in flight here, so a budget refresh counts them.

A lane lives as long as its loop: closing the loop closes the lane's connection (`_Lane.hook`
wraps that loop's `close`). Code that runs the gateway from sync code gets a new, short-lived
loop per call (asgiref's `async_to_sync`, `asyncio.run` — management commands, db_worker jobs,
the evals); without this, each such loop left its connection open until the process ended,
and a long-running one ran PostgreSQL out of connections ("too many clients already").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref

import psycopg
from django.conf import settings
from django.db import connections

from daarion.common.process_state import register_reset
from llm.usage import UsageRow, insert_json_sql, usage_rows_json, usage_writer

logger = logging.getLogger(__name__)
_IDLE_SECONDS = 1.0

# Rows queued in any lane and not yet committed or handed over (flush waits for zero).
_inflight = 0
_inflight_changed = threading.Condition()


def _inflight_add(count: int) -> None:
    global _inflight
    with _inflight_changed:
        _inflight += count
        if _inflight == 0:
            _inflight_changed.notify_all()


class _Lane:
    """One event loop's writer task and connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.rows: list[tuple[UsageRow, asyncio.Future]] = []
        self.task: asyncio.Task | None = None
        self.conn: psycopg.AsyncConnection | None = None
        self.idle: asyncio.TimerHandle | None = None

    def hook(self) -> None:
        """Close this lane with its loop: wrap the loop's `close` (an instance attribute, so
        it covers every way a loop ends — asyncio.run, async_to_sync, a plain close — and
        costs the server's long-lived loop nothing per request)."""
        loop = self.loop
        original_close = loop.close

        def close() -> None:
            try:
                self.shut()
            finally:
                original_close()

        loop.close = close  # type: ignore[method-assign]

    def shut(self) -> None:
        """The loop is closing: its tasks will not run again. Rows still queued go to the
        writer thread (nobody waits for them here), and the connection is closed."""
        if _lanes.get(self.loop) is self:
            _lanes.pop(self.loop, None)
        rest, self.rows = self.rows, []
        if rest:
            _hand_over_unwaited(rest)
            _inflight_add(-len(rest))
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        self.close_now()

    def submit(self, row: UsageRow) -> asyncio.Future:
        future = self.loop.create_future()
        self.rows.append((row, future))
        _inflight_add(1)
        if self.task is None:
            if self.idle is not None:
                self.idle.cancel()
                self.idle = None
            self.task = self.loop.create_task(self._run(), name="llm-usage-lane")
        return future

    async def _run(self) -> None:
        batch_size = usage_writer.batch_size
        try:
            while self.rows:
                batch, self.rows = self.rows[:batch_size], self.rows[batch_size:]
                try:
                    await self._insert([row for row, _ in batch])
                except Exception as exc:  # the thread keeps and retries what we cannot write
                    logger.warning(
                        "usage lane: insert failed (%s); handing rows to the writer thread",
                        type(exc).__name__,
                    )
                    await self._close()
                    for row, future in batch:
                        _chain(usage_writer.submit(row, wait=True), future)
                except BaseException:  # cancelled (the loop is shutting down): keep the rows
                    _hand_over_unwaited(batch)
                    raise
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
                finally:
                    _inflight_add(-len(batch))
        except BaseException:
            # Rows queued behind the cancelled batch go to the writer thread too (its exit
            # flush writes or spools them); nobody is left to wait for them here.
            rest, self.rows = self.rows, []
            _hand_over_unwaited(rest)
            _inflight_add(-len(rest))
            raise
        finally:
            self.task = None
            if not self.loop.is_closed():  # (a task of a closed loop, finalised by the GC)
                self.idle = self.loop.call_later(_IDLE_SECONDS, self._close_when_idle)

    async def _insert(self, rows: list[UsageRow]) -> None:
        if self.conn is None or self.conn.closed:
            params = connections["default"].get_connection_params()
            params.pop("cursor_factory", None)  # Django's is a sync cursor class
            params["prepare_threshold"] = 5  # Django disables prepared statements (None)
            conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
            if not getattr(settings, "LLM_USAGE_SYNCHRONOUS_COMMIT", False):
                # As the writer thread's connection (llm.usage._WriterConnection): asynchronous
                # commit for this session only.
                await conn.execute("SET synchronous_commit TO OFF")
            self.conn = conn
        # One statement for any batch size, prepared once per connection, with the rows as one
        # JSON parameter: PostgreSQL neither parses nor plans it again, and psycopg adapts one
        # value instead of 21 per row (llm.usage.insert_json_sql).
        await self.conn.execute(insert_json_sql(), [usage_rows_json(rows)], prepare=True)

    def _close_when_idle(self) -> None:
        self.idle = None
        if self.task is None and self.conn is not None:
            self.task = self.loop.create_task(self._close_idle())

    async def _close_idle(self) -> None:
        try:
            await self._close()
        finally:
            self.task = None
            if self.rows:  # rows came in while closing
                self.task = self.loop.create_task(self._run(), name="llm-usage-lane")

    async def _close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def close_now(self) -> None:
        """Close the connection from any thread (tests, after the loop is gone)."""
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.pgconn.finish()


def _hand_over_unwaited(batch: list[tuple[UsageRow, asyncio.Future]]) -> None:
    for row, future in batch:
        usage_writer.submit(row)
        if not future.done():
            future.cancel()


def _chain(source: asyncio.Future | None, target: asyncio.Future) -> None:
    def done(_: asyncio.Future) -> None:
        if not target.done():
            target.set_result(None)

    if source is None:
        done(target)
    else:
        source.add_done_callback(done)


_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = weakref.WeakKeyDictionary()


def usage_lane_enabled() -> bool:
    return getattr(settings, "LLM_USAGE_LANE", True)


def usage_lane_record(row: UsageRow) -> asyncio.Future:
    """Queue `row` on the running loop's lane; a future set once it is committed."""
    loop = asyncio.get_running_loop()
    lane = _lanes.get(loop)
    if lane is None:
        lane = _lanes[loop] = _Lane(loop)
        lane.hook()
    return lane.submit(row)


def usage_lane_flush(timeout: float = 30.0) -> bool:
    """Block until no row is in flight in any lane (call from a thread, not a loop)."""
    with _inflight_changed:
        return _inflight_changed.wait_for(lambda: _inflight == 0, timeout)


@register_reset  # (tests) close the connections of lanes whose loops are gone
def usage_lane_reset() -> None:
    for loop, lane in list(_lanes.items()):
        if loop.is_closed():
            lane.close_now()
            _lanes.pop(loop, None)


def usage_lane_disconnect() -> None:
    """Close every lane's connection (tests, before dropping the database)."""
    for lane in list(_lanes.values()):
        lane.close_now()
