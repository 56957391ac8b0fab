"""A durable local disk spool for write-behind data that cannot reach the database now.

Used by the LLM usage writer (llm/usage_spool.py) and the tool-call audit completions
(toolcore/audit_spool.py). Items are appended to a JSON-lines segment file in the spool's
folder and fsynced once per append, so an append that returned survives the process. When the
database answers again, every segment no live process is writing is replayed in order (oldest
file first, lines in order) through an `apply` callback and then deleted — segments left by
earlier processes (stopped or restarted during an outage) included.

Each process writes its own segment and holds an exclusive flock on it while it is open, so a
replaying process never deletes a file another process is still appending to. `apply` must be
idempotent (by an id carried in every item): a replay interrupted half-way, or a segment
replayed twice, applies each item once. A line cut by a crash mid-write is skipped and logged.

Thread-safe (one lock per spool): appends and replays may come from any thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar

Item = TypeVar("Item")

logger = logging.getLogger(__name__)

_LOOK_EVERY_SECONDS = 2.0  # how often has_work() looks at the folder (for other processes' files)


class DurableSpool(Generic[Item]):
    """Append-only JSONL segments in `directory()` (a callable: settings may change in tests).

    `encode(item)` returns one line (ending with b"\\n"); `decode(line)` the item. `label`
    names the spool in logs.
    """

    def __init__(
        self,
        directory: Callable[[], Path],
        *,
        encode: Callable[[Item], bytes],
        decode: Callable[[bytes], Item] | None = None,
        label: str = "spool",
        chunk: int = 500,
    ) -> None:
        self._directory = directory
        self._encode = encode
        self._decode = decode
        self.label = label
        self._chunk = chunk
        self._lock = threading.RLock()
        self._file: BinaryIO | None = None  # this process's open segment (flocked)
        self._next_look = 0.0
        self._unreplayed = False  # items spooled by this process and not yet replayed
        self._found = False  # segments (e.g. of an earlier process) seen and not replayed

    def directory(self) -> Path:
        return self._directory()

    def append(self, items: Iterable[Item]) -> int:
        """Append `items` durably (one write, one fsync); the number written."""
        data = b"".join(self._encode(item) for item in items)
        with self._lock:
            if self._file is None:
                directory = self.directory()
                directory.mkdir(parents=True, exist_ok=True)
                # Sortable by time, unique per process: replay order is file-name order.
                name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
                handle = open(directory / name, "ab")  # noqa: SIM115  (kept open across appends)
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._file = handle
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
            self._unreplayed = True
        return data.count(b"\n")

    @property
    def spooling(self) -> bool:
        """Items were spooled by this process and not replayed yet."""
        return self._unreplayed

    def close_own(self) -> None:
        """Close this process's segment (it becomes replayable like any other)."""
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()  # also releases the flock
                self._file = None

    def has_work(self) -> bool:
        """Whether there may be spooled items to replay (the folder is looked at every 2 s; files
        found there stay "work" until a replay has run, however often this is asked)."""
        if self._unreplayed or self._found:
            return True
        now = time.monotonic()
        if now < self._next_look:
            return False
        self._next_look = now + _LOOK_EVERY_SECONDS
        directory = self.directory()
        self._found = directory.is_dir() and any(directory.glob("*.jsonl"))
        return self._found

    def replay(
        self,
        apply: Callable[[list[Item]], None],
        decode: Callable[[bytes], Item] | None = None,
    ) -> int:
        """Apply every replayable spooled item in order (chunks of `chunk`), deleting each
        segment once it is applied; the number of items applied.

        Raises what `apply` raises (the database went away again): segments not done stay.
        """
        decode = decode or self._decode
        if decode is None:
            raise TypeError("DurableSpool.replay needs a decode function")
        with self._lock:
            self.close_own()  # our own segment is complete: replay it like any other
            directory = self.directory()
            if not directory.is_dir():
                self._unreplayed = self._found = False
                return 0
            applied = 0
            for path in sorted(directory.glob("*.jsonl")):
                applied += self._replay_file(path, apply, decode)
            self._unreplayed = self._found = False
        if applied:
            logger.warning("%s: %d item(s) replayed into the database", self.label, applied)
        return applied

    def _replay_file(
        self, path: Path, apply: Callable[[list[Item]], None], decode: Callable[[bytes], Item]
    ) -> int:
        try:
            handle = open(path, "rb")  # noqa: SIM115  (closed below)
        except FileNotFoundError:  # another process replayed and deleted it meanwhile
            return 0
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # a live process is still writing it (or replaying it now)
            if not path.exists():  # replayed and deleted between our open and our lock
                return 0
            items = []
            for line in handle:
                try:
                    items.append(decode(line))
                except Exception:  # a line cut by a crash mid-write: nothing to recover
                    logger.error("%s %s: unreadable line skipped", self.label, path.name)
            for start in range(0, len(items), self._chunk):
                apply(items[start : start + self._chunk])
            path.unlink()
        return len(items)
