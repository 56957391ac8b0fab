"""Issue 10: a graceful stop (SIGTERM) of a real server writes the usage rows nobody waited for.

uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler that killed the
process before atexit, so rows still queued in the usage writer were lost. Here the rows are
queued for sure: durable usage is off (answers do not wait for rows) and the test holds a lock
on the usage table, so the writer's INSERT blocks. The server is stopped with SIGTERM, the lock
is released a moment later, and every answered request must have its row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import psycopg
import pytest
from django.db import connection

from llm.models import UsageLog
from tests.fakes.server import REPO_ROOT, free_port, uvicorn_command, wait_for_port
from tests.llm.factories import OfflineProviderFactory, make_route

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REQUESTS = 8


def _lock_usage_table() -> psycopg.Connection:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    conn = psycopg.connect(**params)  # a transaction stays open until rollback()
    conn.execute(f"LOCK TABLE {UsageLog._meta.db_table} IN ACCESS EXCLUSIVE MODE")
    return conn


def _command(how: str, port: int) -> list[str]:
    if how == "serve":  # manage.py serve: uvicorn in-process, lifespan off
        return [
            sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--no-migrate", "--no-worker",
        ]  # fmt: skip
    if how == "uvicorn-workers":  # production: the app is imported after uvicorn took SIGTERM
        command = uvicorn_command(port, "--workers", "2")
        command[command.index("--lifespan") + 1] = "auto"  # uvicorn's default
        return command
    return uvicorn_command(port)  # --lifespan off


@pytest.mark.parametrize("how", ["uvicorn", "serve", "uvicorn-workers"])
def test_sigterm_writes_the_rows_still_queued(how, server_env, internal_headers, tmp_path):
    make_route("m", OfflineProviderFactory())
    env = {
        **os.environ,
        **server_env,
        "LLM_USAGE_DURABLE": "0",  # answers do not wait for their rows: they stay queued
        "LLM_USAGE_SPOOL_DIR": str(tmp_path / "spool"),
        "DATA_DIR": str(tmp_path),
    }
    port = free_port()
    process = subprocess.Popen(_command(how, port), cwd=REPO_ROOT, env=env)
    lock = None
    try:
        wait_for_port(port, process=process, timeout=60)
        url = f"http://127.0.0.1:{port}/internal/llm/proxy"
        with httpx.Client(timeout=30) as client:  # warm-up: the registry is cached
            client.post(
                url,
                json={"model": "m", "messages": [{"role": "user", "content": "warm"}]},
                headers=internal_headers,
            ).raise_for_status()
            time.sleep(0.5)
            lock = _lock_usage_table()
            answered = []
            for _ in range(REQUESTS):
                request_id = uuid.uuid4().hex
                response = client.post(
                    url,
                    json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                    headers={**internal_headers, "X-Request-ID": request_id},
                )
                assert response.status_code == 200, response.text
                answered.append(request_id)
        process.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # the server has stopped serving; its writer is still blocked
        lock.rollback()
        lock.close()
        lock = None
        process.wait(30)
    finally:
        if lock is not None:
            lock.close()
        if process.poll() is None:
            process.kill()
            process.wait(10)
    written = set(
        UsageLog.objects.filter(request_id__in=answered).values_list("request_id", flat=True)
    )
    spooled = list((tmp_path / "spool").glob("*.jsonl")) if (tmp_path / "spool").exists() else []
    print(f"\nexit code {process.returncode}; {len(written)}/{REQUESTS} rows written")
    assert not spooled  # the database answered: written, not spooled
    assert written == set(answered)
    if how != "uvicorn-workers":  # (there the supervisor exits 0 once its workers are done)
        assert process.returncode == 128 + signal.SIGTERM  # exited through the interpreter
