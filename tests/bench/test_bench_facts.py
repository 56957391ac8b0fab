"""Facts benchmark: a store's latency (extraction off and on) and background job throughput.

Run with `make bench BENCH=tests/bench/test_bench_facts.py` (or `PYTEST_ARGS="-k facts"`).
Results are printed and saved under tests/bench/results/facts.json.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

STORES = int(os.environ.get("BENCH_FACTS_STORES", "400"))
RESULTS = Path(__file__).parent / "results"
HAS_FACTS = importlib.util.find_spec("memory.facts") is not None


def _store_ms(agent_id: str, microdao_id: str, label: str, count: int, offset: int = 0):
    from memory.services import memory_store

    async def run() -> list[float]:
        out = []
        for i in range(offset, offset + count):
            started = time.perf_counter()
            await memory_store(
                agent_id=agent_id,
                microdao_id=microdao_id,
                channel_id=f"bench-{label}",
                user_message=f"The treasury multisig needs {i % 7 + 2} of {i % 5 + 3} signers.",
                agent_reply="Noted.",
            )
            out.append((time.perf_counter() - started) * 1000)
        return out

    return async_to_sync(run)()


def summary(values: list[float]) -> dict:
    values = sorted(values)
    return {
        "stores": len(values),
        "p50_ms": round(statistics.median(values), 3),
        "p95_ms": round(values[int(len(values) * 0.95)], 3),
        "mean_ms": round(statistics.fmean(values), 3),
    }


@pytest.mark.django_db(transaction=True)
def test_store_latency_and_job_throughput(capsys):
    from tests.factories import AgentFactory, MicroDAOFactory
    from tests.memory.factories import make_offline_embed_route

    make_offline_embed_route()
    microdao = MicroDAOFactory(id="microdao:bench-facts")
    agent = AgentFactory(id="agent:bench-facts", microdao=microdao)
    _store_ms(agent.id, microdao.id, "warm", 20)
    if HAS_FACTS:
        from tests.memory.facts.bench import job_throughput, store_latency_on_off

        report = store_latency_on_off(_store_ms, summary, agent, microdao, STORES)
        if os.environ.get("BENCH_FACTS_JOBS", "1") == "1":
            for workers in os.environ.get("BENCH_FACTS_WORKERS", "2").split(","):
                report[f"jobs_{workers}_workers"] = job_throughput(
                    agent, microdao, workers=int(workers)
                )
    else:
        report = {"store_extraction_off": summary(_store_ms(agent.id, microdao.id, "off", STORES))}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("facts.json" if HAS_FACTS else "facts-before.json")).write_text(
        json.dumps(report, indent=2)
    )
    with capsys.disabled():
        print("\n" + json.dumps(report, indent=2))
