"""Facts benchmark: a store's latency (extraction off and on) and background job throughput.

Run with `make bench PYTEST_ARGS=tests/bench/test_bench_facts.py` (or `-k facts`). Results are
printed and saved under tests/bench/results/facts.json.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

STORES = 400
RESULTS = Path(__file__).parent / "results"
HAS_FACTS = importlib.util.find_spec("memory.facts") is not None


def _latencies(agent_id: str, microdao_id: str, label: str) -> dict:
    from memory.services import memory_store

    async def run() -> list[float]:
        out = []
        for i in range(STORES + 20):
            started = time.perf_counter()
            await memory_store(
                agent_id=agent_id,
                microdao_id=microdao_id,
                channel_id=f"bench-{label}",
                user_message=f"The treasury multisig needs {i % 7 + 2} of {i % 5 + 3} signers.",
                agent_reply="Noted.",
            )
            out.append((time.perf_counter() - started) * 1000)
        return out[20:]  # warm-up dropped

    values = async_to_sync(run)()
    values.sort()
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
    report: dict = {"store_extraction_off": _latencies(agent.id, microdao.id, "off")}
    if HAS_FACTS:
        from tests.memory.facts.bench import job_throughput, store_latency_with_extraction

        report["store_extraction_on"] = store_latency_with_extraction(_latencies, agent, microdao)
        report["jobs"] = job_throughput(agent, microdao)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("facts.json" if HAS_FACTS else "facts-before.json")).write_text(
        json.dumps(report, indent=2)
    )
    with capsys.disabled():
        print("\n" + json.dumps(report, indent=2))
