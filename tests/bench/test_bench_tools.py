"""Tool call overhead (registry, permission, schema validation, executor, audit row) over
calling the same tool server directly, measured in the same run. Target: ≤ 3 ms at p50.

Run with `make bench`. Both sides use the same HTTP stack (httpx over aiohttp) against a real
server on 127.0.0.1; calls interleave so drift hits both equally. Audit rows are committed
(transactional test), as in production. Absolute times need a quiet machine: the target is
asserted only when the load average per CPU is low, and otherwise reported with the load.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import pytest
from aiohttp import web
from asgiref.sync import async_to_sync

from daarion.common.http import make_async_client
from tests.factories import AgentFactory
from tests.fakes.server import serve_aiohttp
from toolcore.models import ToolCall
from toolcore.selectors import registry_cache
from toolcore.services import python_tool_install, tool_call, tool_grant, tool_upsert

ROUNDS = 10
PER_ROUND = 100
WARMUP = 50
TARGET_P50_MS = 3.0
QUIET_LOAD_PER_CPU = 0.75
RESULTS = Path(__file__).parent / "results"

SCHEMA = {
    "type": "object",
    "properties": {
        "microdao_id": {"type": "string", "maxLength": 64},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
    },
    "required": ["microdao_id"],
    "additionalProperties": False,
}
PAYLOAD = {
    "projects": [
        {"id": f"p{i}", "name": f"Project {i}", "tasks": [{"id": f"t{i}{j}"} for j in range(3)]}
        for i in range(5)
    ]
}


def _server() -> web.Application:
    async def projects(request: web.Request) -> web.Response:
        return web.json_response(PAYLOAD)

    app = web.Application()
    app.router.add_get("/projects", projects)
    return app


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@pytest.mark.django_db(transaction=True)
def test_tool_call_overhead():
    agent = AgentFactory()
    with serve_aiohttp(_server()) as url:
        tool_upsert(
            tool_id="projects.list",
            description="bench",
            input_schema=SCHEMA,
            executor="http",
            http_method="GET",
            url_template=f"{url}/projects",
            secret_headers={"Authorization": "Bearer bench-secret-value"},
        )
        tool_grant(agent_id=agent.id, tool_id="projects.list")
        python_tool_install(function_name="whoami")
        tool_grant(agent_id=agent.id, tool_id="whoami")
        registry_cache.invalidate()
        args = {"microdao_id": "microdao:daarion", "limit": 5}

        async def run() -> dict[str, list[float]]:
            direct_client = make_async_client(timeout=10.0)
            samples: dict[str, list[float]] = {"direct": [], "tool_http": [], "tool_python": []}

            async def direct() -> None:
                response = await direct_client.get(
                    f"{url}/projects",
                    params=args,
                    headers={"Authorization": "Bearer bench-secret-value"},
                )
                response.json()

            async def via_tool() -> None:
                outcome = await tool_call(agent_id=agent.id, tool_id="projects.list", args=args)
                assert outcome.ok, outcome.error

            async def via_python_tool() -> None:
                outcome = await tool_call(agent_id=agent.id, tool_id="whoami", args={})
                assert outcome.ok, outcome.error

            cases = {"direct": direct, "tool_http": via_tool, "tool_python": via_python_tool}
            for fn in cases.values():
                for _ in range(WARMUP):
                    await fn()
            # Interleaved call by call, so load changes on the machine hit every case alike;
            # the overhead is also taken as the median of paired differences.
            for _ in range(ROUNDS * PER_ROUND):
                for name, fn in cases.items():
                    started = time.perf_counter()
                    await fn()
                    samples[name].append((time.perf_counter() - started) * 1000)
            await direct_client.aclose()
            return samples

        samples = async_to_sync(run)()

    summary = {
        name: {
            "p50_ms": round(statistics.median(values), 3),
            "p95_ms": round(_percentile(values, 0.95), 3),
            "mean_ms": round(statistics.fmean(values), 3),
            "n": len(values),
        }
        for name, values in samples.items()
    }
    overhead_p50 = summary["tool_http"]["p50_ms"] - summary["direct"]["p50_ms"]
    paired = statistics.median(
        tool - direct for tool, direct in zip(samples["tool_http"], samples["direct"], strict=True)
    )
    summary["overhead_p50_ms"] = round(overhead_p50, 3)
    summary["overhead_paired_median_ms"] = round(paired, 3)
    summary["ratio_p50"] = round(summary["tool_http"]["p50_ms"] / summary["direct"]["p50_ms"], 2)
    summary["target_p50_ms"] = TARGET_P50_MS
    assert ToolCall.objects.filter(outcome="ok").count() == 2 * (WARMUP + ROUNDS * PER_ROUND)

    print("\ntoolcore benchmark (ms)")
    for name in ("direct", "tool_http", "tool_python"):
        row = summary[name]
        print(f"  {name:12s} p50 {row['p50_ms']:7.3f}  p95 {row['p95_ms']:7.3f}  n={row['n']}")
    print(
        f"  overhead p50 {overhead_p50:.3f} ms, paired median {paired:.3f} ms "
        f"(target ≤ {TARGET_P50_MS} ms); tool/direct p50 ratio {summary['ratio_p50']}"
    )
    load_per_cpu = os.getloadavg()[0] / (os.cpu_count() or 1)
    summary["load_average_per_cpu"] = round(load_per_cpu, 2)
    summary["cpu_pressure"] = _cpu_pressure()
    summary["target_met"] = overhead_p50 <= TARGET_P50_MS
    print(
        f"  target met: {'yes' if summary['target_met'] else 'NO'}; load average per CPU "
        f"{load_per_cpu:.2f}; {summary['cpu_pressure']}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tools.json").write_text(json.dumps(summary, indent=2))
    # Absolute latency depends on what else runs: the target is asserted on a quiet machine
    # only, and reported (with the load) otherwise. Correctness is asserted above either way.
    if load_per_cpu < QUIET_LOAD_PER_CPU:
        assert overhead_p50 <= TARGET_P50_MS


def _cpu_pressure() -> str:
    """Linux PSI: how much of the time runnable tasks waited for a CPU."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "cpu pressure unavailable"
