"""The usage writer's disk spool: rows that cannot reach the database survive a restart.

When the database does not answer, the writer appends its pending rows to a JSON-lines file
under LLM_USAGE_SPOOL_DIR (default DATA_DIR/usage-spool), fsyncs once per batch and counts them
as durable. When the database answers again, every spool file no live process is writing is
replayed in order (oldest file first, lines in order) and then deleted. Rows carry their
`row_id` and the insert skips ids already present, so a replay interrupted half-way (or a file
replayed twice) still writes each row once.

Each process writes its own file and holds an exclusive flock on it while it is open, so a
replaying process never deletes a file another process is still appending to.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from django.conf import settings

# llm.usage.UsageRow (passed in by the writer, which imports this module: no cycle).
UsageRow = Any

logger = logging.getLogger(__name__)


def spool_dir() -> Path:
    configured = getattr(settings, "LLM_USAGE_SPOOL_DIR", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "usage-spool"


def _encode(row: UsageRow) -> bytes:
    values = asdict(row)
    values["created_at"] = row.created_at.isoformat()
    values["cost_usd"] = str(row.cost_usd)
    values["row_id"] = str(row.row_id)
    # OPT_PASSTHROUGH_DATACLASS unneeded: values are plain; a bad string (lone surrogate) is
    # escaped by the json fallback below so the row is still kept.
    try:
        return orjson.dumps(values) + b"\n"
    except TypeError:
        import json

        return json.dumps(values, ensure_ascii=True, default=str).encode() + b"\n"


def _decode(line: bytes, row_type: type[UsageRow]) -> UsageRow:
    values = orjson.loads(line)
    values["created_at"] = dt.datetime.fromisoformat(values["created_at"])
    values["cost_usd"] = Decimal(values["cost_usd"])
    values["row_id"] = uuid.UUID(values["row_id"])
    return row_type(**values)


class UsageSpool:
    """Used by the writer thread only (no locking between threads)."""

    def __init__(self) -> None:
        self._file: BinaryIO | None = None  # this process's open spool file (flocked)
        self._path: Path | None = None
        self._next_look = 0.0
        self._unreplayed = False  # rows spooled by this process and not yet replayed
        self._found = False  # spool files (e.g. of an earlier process) seen and not replayed

    def append(self, rows: Iterable[UsageRow]) -> int:
        """Append `rows` durably (one fsync); the number written."""
        if self._file is None:
            directory = spool_dir()
            directory.mkdir(parents=True, exist_ok=True)
            # Sortable by time, unique per process: replay order is file-name order.
            name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            self._path = directory / name
            handle = open(self._path, "ab")  # noqa: SIM115  (kept open across batches)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._file = handle
        data = b"".join(_encode(row) for row in rows)
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._unreplayed = True
        return data.count(b"\n")

    @property
    def spooling(self) -> bool:
        """Rows were spooled and not replayed yet (the writer retries more often)."""
        return self._unreplayed

    def _close_own(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()  # also releases the flock
            self._file = None

    def has_work(self) -> bool:
        """Whether there may be spooled rows to replay (the folder is looked at every 2 s; files
        found there stay "work" until a replay has run, however often this is asked)."""
        if self._unreplayed or self._found:
            return True
        now = time.monotonic()
        if now < self._next_look:
            return False
        self._next_look = now + 2.0
        directory = spool_dir()
        self._found = directory.is_dir() and any(directory.glob("*.jsonl"))
        return self._found

    def replay(self, insert: Callable[[list[UsageRow]], None], row_type: type[UsageRow]) -> int:
        """Insert every replayable spooled row in order, deleting each file once it is in.

        Raises what `insert` raises (the database went away again): files not yet done stay.
        """
        self._close_own()  # our own file is complete: replay it like any other
        directory = spool_dir()
        if not directory.is_dir():
            self._unreplayed = self._found = False
            return 0
        written = 0
        for path in sorted(directory.glob("*.jsonl")):
            with open(path, "rb") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process is still writing it
                rows = []
                for line in handle:
                    try:
                        rows.append(_decode(line, row_type))
                    except Exception:  # a line cut by a crash mid-write: nothing to recover
                        logger.error("usage spool %s: unreadable line skipped", path.name)
                for start in range(0, len(rows), 500):
                    insert(rows[start : start + 500])
                path.unlink()
                written += len(rows)
        self._unreplayed = self._found = False
        if written:
            logger.warning("usage spool: %d row(s) replayed into the database", written)
        return written


usage_spool = UsageSpool()
