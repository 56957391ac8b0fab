"""Two real worker processes (`manage.py db_worker`) share the database queue: every job runs
exactly once (SELECT … FOR UPDATE SKIP LOCKED), and both take part."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django_tasks_db.models import DBTaskResult

from memory.facts.models import Fact, FactExtraction
from tests.fakes.server import REPO_ROOT
from tests.memory.facts.support import store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
JOBS = 24


def _worker_env(settings) -> dict[str, str]:
    from django.db import connection

    db = connection.settings_dict
    port = f":{db['PORT']}" if db["PORT"] else ""
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{port}/{db['NAME']}?host={db['HOST']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "daarion.settings",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "INTERNAL_SECRET": settings.INTERNAL_SECRET,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
    }


def test_two_worker_processes_never_run_a_job_twice(settings, extract_route, upstream):
    upstream.delay = 0.05  # each job waits on the model a little, as real ones do
    for n in range(JOBS):
        upstream.script(f"item {n:02d} ", (f"item {n:02d}", f"Item {n:02d} costs {n} UAH."))
    memory_ids = [
        store("agent:sofia", "microdao:alpha", f"item {n:02d} costs") for n in range(JOBS)
    ]
    assert DBTaskResult.objects.filter(status="READY").count() == JOBS

    command = [
        sys.executable, "manage.py", "db_worker", "--queue-name", "memory", "--batch",
        "--no-reload", "--no-startup-delay", "--interval", "0",
    ]  # fmt: skip
    env = _worker_env(settings)
    workers = [
        subprocess.Popen([*command, "--worker-id", f"w{i}"], cwd=REPO_ROOT, env=env)
        for i in range(2)
    ]
    for worker in workers:
        assert worker.wait(120) == 0

    results = list(DBTaskResult.objects.all())
    assert len(results) == JOBS
    assert all(result.status == "SUCCESSFUL" for result in results)
    assert all(len(result.worker_ids) == 1 for result in results)  # claimed once, run once
    assert {result.worker_ids[0] for result in results} == {"w0", "w1"}
    assert upstream.calls["extract"] == JOBS  # no memory was sent to the model twice
    assert sorted(upstream.extracted_texts) == sorted(set(upstream.extracted_texts))
    assert FactExtraction.objects.filter(memory_id__in=memory_ids, status="done").count() == JOBS
    assert Fact.objects.count() == JOBS


def test_two_workers_updating_one_subject_leave_one_current_fact(settings, extract_route, upstream):
    """Updates of one fact per agent, for two agents, processed by two workers at once (some
    out of order): per agent the newest statement is the one current fact, every older one is
    in its history, and neither worker waits forever on the other's agent lock."""
    import datetime as dt

    upstream.echo_subject = "treasury multisig"
    upstream.delay = 0.02
    start = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    agents = ("agent:sofia", "agent:oleh")
    for n in range(16):
        store(
            agents[n % 2],
            "microdao:alpha",
            f"The treasury multisig needs {n + 2} of {n + 3}.",
            at=start + dt.timedelta(hours=n),
        )
    env = _worker_env(settings)
    command = [
        sys.executable, "manage.py", "db_worker", "--queue-name", "memory", "--batch",
        "--no-reload", "--no-startup-delay", "--interval", "0",
    ]  # fmt: skip
    workers = [
        subprocess.Popen([*command, "--worker-id", f"w{i}"], cwd=REPO_ROOT, env=env)
        for i in range(2)
    ]
    try:
        for worker in workers:
            assert worker.wait(120) == 0
    finally:
        for worker in workers:
            worker.kill()
    for agent, newest in (("agent:sofia", "16 of 17"), ("agent:oleh", "17 of 18")):
        current = list(Fact.objects.filter(agent_id=agent, status="current"))
        assert [fact.text for fact in current] == [f"The treasury multisig needs {newest}."]
        assert Fact.objects.filter(agent_id=agent, status="superseded").count() == 7
    assert not Fact.objects.filter(status="superseded", superseded_by__isnull=True).exists()
