"""LLM gateway benchmark: the gateway (one uvicorn worker, usage logging on) against a local
zero-latency fake upstream, and the same load sent to the upstream directly, in the same run.

Processes: the fake upstream (aiohttp), the gateway (uvicorn, production settings on the test
database) and the load generator (aiohttp client) each run in their own process. With at least
two CPUs the gateway is pinned to one core and the upstream and load generator to another, so
"one worker" means one core. Reported per scenario: RPS, p50/p99 latency, the gateway's CPU ms
per request and its RSS. Results are printed and saved to tests/bench/results/llm.json.

Latency and throughput are printed with the machine's CPU pressure and compared with the
targets, not asserted (they depend on what else runs); the run fails only on errors.

Targets (issue 3): p50 overhead ≤ 2 ms at c=1; ≥ 500 req/s at c=64; 256 concurrent requests
against a 500 ms upstream with p50 ≤ 600 ms and no errors; streaming CPU ≤ 2x non-streaming;
RSS ≤ 200 MB. For reference the issue quotes LiteLLM's proxy 1.109 on this kind of machine
(~11 ms overhead at c=1, ~100 req/s per worker, p50 2.6 s for 256x500 ms, ~360 MB RSS); LiteLLM
is not installed here and was not measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import pytest
from django.conf import settings
from django.db import connection

from tests.factories import AgentFactory
from tests.fakes.server import REPO_ROOT, free_port, uvicorn_command, wait_for_port
from tests.llm.conftest import redis_url  # noqa: F401  (the fixture, shared with tests/llm)
from tests.llm.factories import ProviderFactory, make_route

RESULTS = Path(__file__).parent / "results"
SCALE = float(os.environ.get("BENCH_SCALE", "1"))  # e.g. 0.2 for a quick run


def _n(count: int) -> int:
    return max(50, int(count * SCALE))


def _cores() -> tuple[list[int] | None, list[int] | None]:
    cpus = sorted(psutil.Process().cpu_affinity())
    if len(cpus) < 2:
        return None, None
    return cpus[:1], cpus[1:]


GATEWAY_CPUS, LOAD_CPUS = _cores()


def _pin(process: subprocess.Popen, cpus: list[int] | None) -> None:
    if cpus:
        psutil.Process(process.pid).cpu_affinity(cpus)


@contextlib.contextmanager
def _upstream():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_upstream", "--port", str(port)], cwd=REPO_ROOT
    )
    _pin(process, LOAD_CPUS)
    try:
        wait_for_port(port, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _database_url() -> str:
    db = connection.settings_dict
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{port}/{db['NAME']}?host={db['HOST']}"


@contextlib.contextmanager
def _gateway(**extra_env: str):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "daarion.server.settings",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "INTERNAL_SECRET": settings.INTERNAL_SECRET,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DATABASE_URL": _database_url(),
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    env.pop("REDIS_URL", None) if "REDIS_URL" not in extra_env else None
    process = subprocess.Popen(
        uvicorn_command(port, "--no-access-log", "--backlog", "4096"),
        cwd=REPO_ROOT,
        env=env,
    )
    _pin(process, GATEWAY_CPUS)
    try:
        wait_for_port(port, process=process)
        yield f"http://127.0.0.1:{port}", psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(20)


def _load(
    url: str,
    *,
    concurrency: int,
    requests: int,
    body: dict,
    headers: dict | None = None,
    stream: bool = False,
    method: str = "POST",
) -> dict:
    command = [
        sys.executable,
        "-m",
        "tests.bench.llm_loadgen",
        url,
        "--concurrency",
        str(concurrency),
        "--requests",
        str(requests),
        "--body",
        orjson.dumps(body).decode(),
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    if stream:
        command.append("--stream")
    command += ["--method", method]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    _pin(process, LOAD_CPUS)
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out
    return json.loads(out)


def _measure(url, *, gateway: psutil.Process | None, warmup: int, **load) -> dict:
    _load(url, **{**load, "requests": warmup})
    before = gateway.cpu_times() if gateway else None
    result = _load(url, **load)
    if gateway is not None:
        after = gateway.cpu_times()
        cpu_s = (after.user - before.user) + (after.system - before.system)
        result["cpu_ms_per_request"] = round(cpu_s * 1000 / max(result["ok"], 1), 3)
        result["rss_mb"] = round(gateway.memory_info().rss / 2**20, 1)
    return result


def _cpu_pressure() -> str:
    """Linux PSI: how much of the time runnable tasks waited for a CPU (a busy machine)."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return "unavailable"


def _body(model: str, agent, *, stream: bool = False) -> dict:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Hello! How are you today?"}],
        "metadata": {"agent_id": agent.id, "microdao_id": agent.microdao_id},
        "temperature": 0.2,
        "max_tokens": 32,
    }
    if stream:
        body["stream"] = True
    return body


def _row(name: str, r: dict) -> str:
    cpu = f"{r['cpu_ms_per_request']:>7.3f}" if "cpu_ms_per_request" in r else "      -"
    rss = f"{r['rss_mb']:>6.1f}" if "rss_mb" in r else "     -"
    return (
        f"{name:<40} {r['rps']:>9.1f} {r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f} {cpu} {rss} "
        f"{r['errors']:>6}"
    )


@pytest.mark.django_db(transaction=True)
def test_gateway_against_direct_upstream(redis_url):  # noqa: F811  (pytest fixture)
    pressure_before = _cpu_pressure()
    agent = AgentFactory(rate_limit="100000000/m")
    results: dict[str, dict] = {}
    headers = {"X-Internal-Secret": settings.INTERNAL_SECRET}
    with _upstream() as upstream:
        provider = ProviderFactory(
            name="bench-upstream", base_url=f"{upstream}/v1", timeout_seconds=30
        )
        make_route("bench", provider, physical_model="bench")
        make_route("bench-slow", provider, physical_model="slow500")
        direct = f"{upstream}/v1/chat/completions"
        fast = _body("bench", agent)
        slow = _body("slow500", agent)
        streamed = _body("bench", agent, stream=True)
        plan = {
            "c1": {"concurrency": 1, "requests": _n(2000), "warmup": _n(300)},
            "c64": {"concurrency": 64, "requests": _n(10000), "warmup": _n(1000)},
            "stream16": {"concurrency": 16, "requests": _n(3000), "warmup": _n(300)},
            "slow256": {"concurrency": 256, "requests": 768, "warmup": 256},
        }
        results["direct c=1"] = _measure(direct, gateway=None, body=fast, **plan["c1"])
        results["direct c=64"] = _measure(direct, gateway=None, body=fast, **plan["c64"])
        results["direct stream c=16"] = _measure(
            direct, gateway=None, body=streamed, stream=True, **plan["stream16"]
        )
        results["direct 256 x 500ms"] = _measure(direct, gateway=None, body=slow, **plan["slow256"])
        with _gateway() as (url, process):
            proxy = f"{url}/internal/llm/proxy"
            v1 = f"{url}/v1/chat/completions"
            gw = {"gateway": process, "headers": headers}
            # Baseline inside the service: an async ninja view with auth and a cached registry
            # read but no upstream call and no usage row (GET /v1/models).
            results["service floor: GET /v1/models c=64"] = _measure(
                f"{url}/v1/models", body={}, method="GET", **gw, **plan["c64"]
            )
            results["gateway c=1"] = _measure(proxy, body=fast, **gw, **plan["c1"])
            results["gateway c=64"] = _measure(proxy, body=fast, **gw, **plan["c64"])
            results["gateway /v1 stream c=16"] = _measure(
                v1, body=streamed, stream=True, **gw, **plan["stream16"]
            )
            results["gateway /v1 c=16 (non-stream)"] = _measure(
                v1, body=fast, **gw, **plan["stream16"]
            )
            results["gateway 256 x 500ms"] = _measure(
                proxy, body={**slow, "model": "bench-slow"}, **gw, **plan["slow256"]
            )
            results["gateway 1000 x 500ms"] = _measure(
                proxy,
                body={**slow, "model": "bench-slow"},
                **gw,
                concurrency=1000,
                requests=2000,
                warmup=1000,
            )
        with _gateway(LLM_USAGE_DURABLE="0") as (url, process):
            gw = {"gateway": process, "headers": headers}
            proxy = f"{url}/internal/llm/proxy"
            results["gateway c=1, usage not awaited"] = _measure(
                proxy, body=fast, **gw, **plan["c1"]
            )
            results["gateway c=64, usage not awaited"] = _measure(
                proxy, body=fast, **gw, **plan["c64"]
            )
        with _gateway(LLM_HTTP_CLIENT="httpx") as (url, process):
            gw = {"gateway": process, "headers": headers}
            proxy = f"{url}/internal/llm/proxy"
            results["gateway c=1, httpx client"] = _measure(proxy, body=fast, **gw, **plan["c1"])
            results["gateway c=64, httpx client"] = _measure(proxy, body=fast, **gw, **plan["c64"])
        with _gateway(REDIS_URL=redis_url, CACHE_KEY_PREFIX=f"bench{time.time_ns()}") as (
            url,
            process,
        ):
            gw = {"gateway": process, "headers": headers}
            proxy = f"{url}/internal/llm/proxy"
            results["gateway c=1, Redis rate limit"] = _measure(
                proxy, body=fast, **gw, **plan["c1"]
            )
            results["gateway c=64, Redis rate limit"] = _measure(
                proxy, body=fast, **gw, **plan["c64"]
            )

    summary = {
        "overhead_p50_ms_c1": round(
            results["gateway c=1"]["p50_ms"] - results["direct c=1"]["p50_ms"], 3
        ),
        "overhead_p50_ms_c1_usage_not_awaited": round(
            results["gateway c=1, usage not awaited"]["p50_ms"] - results["direct c=1"]["p50_ms"],
            3,
        ),
        "rps_c64": results["gateway c=64"]["rps"],
        "rps_ratio_c64_vs_direct": round(
            results["gateway c=64"]["rps"] / results["direct c=64"]["rps"], 3
        ),
        # What one uncontended core would sustain at the measured CPU cost per request.
        "cpu_bound_rps_c64": round(1000 / results["gateway c=64"]["cpu_ms_per_request"], 1),
        "p50_ms_256x500": results["gateway 256 x 500ms"]["p50_ms"],
        "stream_cpu_ratio": round(
            results["gateway /v1 stream c=16"]["cpu_ms_per_request"]
            / results["gateway /v1 c=16 (non-stream)"]["cpu_ms_per_request"],
            3,
        ),
        "max_rss_mb": max(r.get("rss_mb", 0) for r in results.values()),
        "cpus": {"gateway": GATEWAY_CPUS, "load_and_upstream": LOAD_CPUS},
        "cpu_pressure_before": pressure_before,
        "cpu_pressure_after": _cpu_pressure(),
        "load_average": os.getloadavg(),
    }
    targets = [
        ("p50 overhead at c=1 <= 2 ms", summary["overhead_p50_ms_c1"] <= 2.0),
        (">= 500 req/s at c=64", summary["rps_c64"] >= 500),
        ("256 x 500 ms: p50 <= 600 ms", summary["p50_ms_256x500"] <= 600),
        ("256 x 500 ms: no errors", results["gateway 256 x 500ms"]["errors"] == 0),
        ("streaming CPU <= 2x non-streaming", summary["stream_cpu_ratio"] <= 2.0),
        ("RSS <= 200 MB", summary["max_rss_mb"] <= 200),
    ]
    lines = [
        f"{'scenario':<40} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'cpu ms':>7} "
        f"{'RSS MB':>6} {'errors':>6}"
    ]
    lines += [_row(name, r) for name, r in results.items()]
    lines.append(json.dumps(summary))
    lines += [f"target {'met   ' if ok else 'MISSED'} {name}" for name, ok in targets]
    print("\n" + "\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "llm.json").write_text(
        json.dumps({"results": results, "summary": summary, "targets": dict(targets)}, indent=2)
    )
    # Latency and throughput depend on what else the machine runs (printed above with the CPU
    # pressure), so they are reported, not asserted; correctness under load is asserted.
    assert all(r["errors"] == 0 for r in results.values()), results
