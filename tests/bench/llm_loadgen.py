"""Closed-loop HTTP load generator for the gateway benchmark (runs in its own process).

    python -m tests.bench.llm_loadgen URL --concurrency 64 --requests 5000 --body '{...}'
        [--header 'X-Internal-Secret: …'] [--stream]

Prints one JSON object: requests, errors, statuses, seconds, rps, p50_ms, p90_ms, p99_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import aiohttp
import orjson
import uvloop


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    url: str,
    *,
    concurrency: int,
    requests: int,
    body: bytes,
    headers: dict[str, str],
    stream: bool,
    method: str = "POST",
) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    remaining = requests
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                try:
                    async with session.request(
                        method, url, data=body if method == "POST" else None, headers=headers
                    ) as response:
                        payload = await response.read()
                        status = response.status
                except Exception:  # counted, not raised: the benchmark reports errors
                    errors += 1
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                statuses[status] = statuses.get(status, 0) + 1
                ok = status == 200 and (not stream or payload.endswith(b"data: [DONE]\n\n"))
                if not ok:
                    errors += 1
                    continue
                latencies.append(elapsed)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {
        "requests": requests,
        "ok": len(latencies),
        "errors": errors,
        "statuses": statuses,
        "seconds": round(seconds, 3),
        "rps": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p90_ms": round(percentile(latencies, 0.90), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--body", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--method", default="POST", choices=["POST", "GET"])
    args = parser.parse_args()
    headers = {"Content-Type": "application/json"}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    uvloop.install()
    result = asyncio.run(
        run(
            args.url,
            concurrency=args.concurrency,
            requests=args.requests,
            body=args.body.encode(),
            headers=headers,
            stream=args.stream,
            method=args.method,
        )
    )
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")


if __name__ == "__main__":
    main()
