"""Completions of write-ahead audit rows that survive a database outage.

An executed call's ToolCall row is committed as `started` before the tool runs and completed
(one UPDATE) after. If the database fails between the two, the tool has acted and the caller
gets its result, so the completion — outcome, error message (already scrubbed of the tool's
secrets), HTTP status, attempts, latency; never arguments or results — is appended to a durable
disk spool under TOOLCORE_AUDIT_SPOOL_DIR (default DATA_DIR/toolcall-spool; the kernel's
daarion/common/durable_spool.py, fsynced before the call returns). A background thread replays
it once the database answers: `UPDATE … WHERE call_id = … AND outcome = 'started'`, so a replay
repeated or interrupted half-way changes each row once and never overwrites a completion that
got through. A server that starts finds completions spooled by an earlier process (stopped or
restarted during the outage) and replays them too (`audit_spool_replay_start`, at boot).

A completion the database refuses while it answers (not an outage) is written sanitized, or
logged and dropped: it cannot hold the others back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from daarion.common.daemon_thread import DaemonThread
from daarion.common.durable_spool import DurableSpool
from toolcore.models import Outcome, ToolCall
from toolcore.schema import storable_text

logger = logging.getLogger(__name__)

_RETRY_SECONDS = 1.0
_SMALLINT_MAX = 2**15 - 1


@dataclass(frozen=True, slots=True)
class ToolCompletion:
    """The values that complete one `started` ToolCall row (nothing secret: see the module)."""

    call_id: str
    outcome: str
    error_message: str
    http_status: int | None
    attempts: int
    latency_ms: float

    def values(self) -> dict:
        return {
            "outcome": self.outcome,
            "error_message": self.error_message,
            "http_status": self.http_status,
            "attempts": self.attempts,
            "latency_ms": self.latency_ms,
        }

    def sanitized(self) -> ToolCompletion:
        """A copy PostgreSQL accepts whatever went wrong with the values."""
        status = self.http_status
        latency = self.latency_ms if math.isfinite(self.latency_ms) else 0.0
        return ToolCompletion(
            call_id=self.call_id,
            outcome=self.outcome if self.outcome in Outcome.values else Outcome.UPSTREAM_ERROR,
            error_message=storable_text(self.error_message)
            .encode("utf-8", "replace")
            .decode()[:10_000],
            http_status=status if isinstance(status, int) and 0 <= status <= 999 else None,
            attempts=min(max(int(self.attempts), 0), _SMALLINT_MAX),
            latency_ms=max(latency, 0.0),
        )


def audit_spool_dir() -> Path:
    configured = getattr(settings, "TOOLCORE_AUDIT_SPOOL_DIR", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "toolcall-spool"


def _encode(completion: ToolCompletion) -> bytes:
    # ensure_ascii: a lone surrogate in a message is escaped, the line is still written.
    return json.dumps(asdict(completion), ensure_ascii=True).encode() + b"\n"


def _decode(line: bytes) -> ToolCompletion:
    return ToolCompletion(**json.loads(line))


completion_spool: DurableSpool[ToolCompletion] = DurableSpool(
    audit_spool_dir, encode=_encode, decode=_decode, label="tool-call audit spool"
)


# --- the request path --------------------------------------------------------------------


async def audit_complete(completion: ToolCompletion) -> None:
    """Complete the call's `started` row; if the database fails, spool the completion durably.

    Never raises: the tool has acted and the caller gets its result either way."""
    try:
        await ToolCall.objects.filter(call_id=completion.call_id).aupdate(**completion.values())
        return
    except DatabaseError as exc:
        logger.warning("tool call %s: audit completion not written (%s)", completion.call_id, exc)
    try:
        await asyncio.to_thread(completion_spool.append, [completion])
    except Exception:  # disk full / read-only: the `started` row stays as the trace
        logger.exception(
            "tool call %s: audit row left as 'started' (spooling failed): %r",
            completion.call_id,
            completion,
        )
        return
    logger.warning("tool call %s: audit completion spooled to disk", completion.call_id)
    audit_replayer.start()


# --- the replayer ------------------------------------------------------------------------


def _complete_one(completion: ToolCompletion) -> None:
    started = ToolCall.objects.filter(call_id=completion.call_id, outcome=Outcome.STARTED)
    try:
        started.update(**completion.values())
        return
    except (OperationalError, InterfaceError):
        raise  # the database went away again: the segment stays
    except DatabaseError as exc:
        first_error = exc
    try:
        started.update(**completion.sanitized().values())
        logger.warning(
            "tool call %s: audit completion written sanitized (%s)", completion.call_id, first_error
        )
    except (OperationalError, InterfaceError):
        raise
    except DatabaseError:
        logger.exception(
            "tool call %s: audit completion dropped: %r", completion.call_id, completion
        )


def _apply(completions: list[ToolCompletion]) -> None:
    for completion in completions:
        _complete_one(completion)


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        connection.close()
        return False


class AuditReplayer:
    """A daemon thread that replays spooled completions whenever the database answers."""

    def __init__(self) -> None:
        self._thread = DaemonThread(self._run, "toolcore-audit-replayer")
        self._wake = threading.Event()

    def start(self) -> None:
        self._thread.ensure_started()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(_RETRY_SECONDS)
            self._wake.clear()
            if completion_spool.has_work():
                self.replay_once()

    def replay_once(self) -> int:
        """Replay what is spooled if the database answers; the number replayed."""
        try:
            if not _database_answers():  # still down: keep appending to the same segment
                return 0
            return completion_spool.replay(_apply)
        except Exception as exc:  # the replayer must survive anything
            logger.warning("tool-call audit spool: replay failed, will retry (%s)", exc)
            return 0
        finally:
            connection.close()  # no connection held between rounds (the pool gets it back)


audit_replayer = AuditReplayer()


def audit_spool_replay_start() -> None:
    """At server start: completions an earlier process spooled are replayed once the database
    answers, even if this process never spools one."""
    if completion_spool.has_work():
        audit_replayer.start()
