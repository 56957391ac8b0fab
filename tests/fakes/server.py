"""Real HTTP servers on 127.0.0.1 for tests: fake LLM upstreams, tool services, and our own app.

`serve_aiohttp(app)` runs an aiohttp application in a background thread with its own event loop,
on an ephemeral port, and yields its base URL. Clients under test (httpx, the openai SDK, our
gateway) talk to it over a real socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def serve_aiohttp(app: web.Application, *, host: str = "127.0.0.1") -> Iterator[str]:
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict = {}

    async def _start() -> None:
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, 0, backlog=2048)
        await site.start()
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]

    def _run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=_run, name="fake-http-server", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("fake HTTP server did not start")
    try:
        yield f"http://{host}:{state['port']}"
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, *, timeout: float = 30.0, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server process exited early with code {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def uvicorn_command(port: int, *extra_args: str) -> list[str]:
    """The command line that serves our ASGI app as production does (uvloop, httptools)."""
    return [
        sys.executable, "-m", "uvicorn", "daarion.server.asgi:application",
        "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--lifespan", "off", "--log-level", "warning",
        *extra_args,
    ]  # fmt: skip


def production_server_env(settings) -> dict[str, str]:
    """Environment for a server subprocess: production settings (DEBUG off) on the test
    database, with the test run's secrets."""
    from django.db import connection

    db = connection.settings_dict
    port = f":{db['PORT']}" if db["PORT"] else ""
    return {
        "DJANGO_SETTINGS_MODULE": "daarion.server.settings",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "INTERNAL_SECRET": settings.INTERNAL_SECRET,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{port}/{db['NAME']}"
        f"?host={db['HOST']}",
        "LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def run_app_server(
    env: dict[str, str],
    *,
    port: int | None = None,
    timeout: float = 30.0,
    launcher: Sequence[str] = ("-m", "uvicorn"),
) -> Iterator[str]:
    """Run our ASGI app with uvicorn in a subprocess (a real second process) and yield its URL.

    `env` must point DATABASE_URL at the test database so the subprocess sees the test's rows.
    `launcher` is what Python runs before uvicorn's arguments (`-c <code>` to patch first).
    """
    port = port or free_port()
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env}
    process = subprocess.Popen(
        [sys.executable, *launcher, *uvicorn_command(port)[3:]],
        cwd=REPO_ROOT,
        env=full_env,
    )
    try:
        wait_for_port(port, process=process, timeout=timeout)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
