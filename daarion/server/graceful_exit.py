"""SIGTERM and SIGHUP end the process through the interpreter, so atexit handlers run.

uvicorn catches SIGTERM/SIGINT for a graceful shutdown and, once it has stopped serving, raises
the same signal again with the handler that was installed before it started. With the default
handler that second SIGTERM kills the process on the spot: atexit handlers never run, and the
usage writer's queued rows (abandoned streams, cancelled requests, LLM_USAGE_DURABLE off, rows
whose durable wait timed out) were lost. With this handler the re-raised signal becomes
`sys.exit(128 + signum)`: atexit drains the writer into the database, or into the disk spool
while the database is down (llm.usage._flush_at_exit).

Installed from the ASGI entry point (every server: `manage.py serve`, `uvicorn
daarion.server.asgi:application`) and by the embedded database (which releases its handle at
exit). Only replaces the default handler, and only in the main thread.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

GRACEFUL_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _exit_on_signal(signum: int, frame: object) -> None:
    sys.exit(128 + signum)  # SystemExit: the interpreter exits normally and runs atexit


def exit_cleanly_on_signals() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in GRACEFUL_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _exit_on_signal)


def write_behind_drain(timeout: float = 10.0) -> bool:
    """Write (or spool, while the database is down) every queued usage row; True if done."""
    from llm.usage import usage_flush
    from llm.usage_lane import usage_lane_flush

    lanes_done = usage_lane_flush(timeout)  # rows in the loops' lanes reach the writer thread
    return usage_flush(timeout, spooled_ok=True) and lanes_done


def drain_on_lifespan_shutdown(app: Any) -> Any:
    """`app`, whose ASGI lifespan shutdown also drains the usage rows (servers that send
    lifespan events, e.g. `uvicorn --workers N` with the default `--lifespan auto`: there the
    app is imported after uvicorn took the signals, so the handler above cannot be installed)."""

    async def application(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return

        async def send_after_drain(message: dict) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                import asyncio

                await asyncio.to_thread(write_behind_drain)
            await send(message)

        await app(scope, receive, send_after_drain)

    return application
