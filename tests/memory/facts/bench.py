"""Parts of tests/bench/test_bench_facts.py that need the facts app (absent before it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from django.conf import settings
from django_tasks_db.models import DBTaskResult

from memory.facts.config import facts_config_cache
from memory.facts.dispatch import facts_dispatch_flush
from memory.facts.models import FactExtraction
from tests.fakes.server import REPO_ROOT
from tests.memory.facts.scripted_upstream import ScriptedUpstream
from tests.memory.facts.support import make_extract_route
from tests.memory.facts.test_workers import _worker_env

JOBS = int(os.environ.get("BENCH_FACTS_JOBS_N", "300"))


def store_latency_on_off(store_ms, summary, agent, microdao, stores: int) -> dict:
    """Stores with extraction off and on, in alternating blocks of 25 (the machine's load
    drifts; alternating keeps the two comparable). On, each store marks its memory pending and
    the dispatch thread queues the job concurrently with the next stores (its CPU counts)."""
    from memory.facts.models import FactSettings

    upstream = ScriptedUpstream(echo_subject="treasury multisig")
    off, on = [], []
    with upstream.serve() as base_url:
        make_extract_route(base_url)
        row = FactSettings.objects.create(microdao=None, enabled=False)
        for block in range(stores // 25):
            enabled = block % 2 == 1
            FactSettings.objects.filter(pk=row.pk).update(enabled=enabled)
            facts_config_cache.invalidate()
            values = store_ms(agent.id, microdao.id, "bench", 25, offset=block * 25)
            (on if enabled else off).extend(values)
            facts_dispatch_flush()  # the block's jobs are queued (by the dispatch thread)
        row.delete()
    facts_config_cache.invalidate()
    DBTaskResult.objects.all().delete()
    return {"store_extraction_off": summary(off), "store_extraction_on": summary(on)}


def job_throughput(agent, microdao, workers: int = 2) -> dict:
    """Extraction jobs per second with `workers` real db_worker processes on this machine,
    spread over four agents.

    Every job: one extraction call and, from the second fact on, an embedding, a candidate
    query and a decision call (each memory restates the subject with a new value, so each
    fact supersedes the previous one — the expensive path)."""
    from memory.facts.models import Fact
    from tests.memory.facts.support import store

    Fact.objects.all().delete()
    FactExtraction.objects.all().delete()
    DBTaskResult.objects.all().delete()
    upstream = ScriptedUpstream(echo_subject="treasury multisig")
    with upstream.serve() as base_url:
        make_extract_route(base_url)
        facts_config_cache.invalidate()
        # Four agents: one agent's facts are folded in by one worker at a time (advisory lock).
        from tests.factories import AgentFactory

        agents = [agent] + [
            AgentFactory(id=f"{agent.id}-{i}", microdao=microdao) for i in range(1, 4)
        ]
        for n in range(JOBS):
            owner = agents[n % len(agents)]
            store(owner.id, microdao.id, f"The treasury multisig needs {n + 2} of {n + 3}.")
        command = [
            sys.executable, "manage.py", "db_worker", "--queue-name", "memory", "--batch",
            "--no-reload", "--no-startup-delay", "--interval", "0",
        ]  # fmt: skip
        env = _worker_env(settings)
        started = time.perf_counter()
        processes = [
            subprocess.Popen([*command, "--worker-id", f"bench{i}"], cwd=REPO_ROOT, env=env)
            for i in range(workers)
        ]
        for process in processes:
            process.wait(600)
        elapsed = time.perf_counter() - started
    done = FactExtraction.objects.filter(status="done").count()
    return {
        "workers": workers,
        "jobs": JOBS,
        "done": done,
        "seconds": round(elapsed, 2),
        "jobs_per_s": round(done / elapsed, 1),
        "model_calls": dict(upstream.calls),
        "note": "wall time includes starting the worker processes (~1-2 s)",
    }
