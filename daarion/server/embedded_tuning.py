"""Memory settings of the embedded PostgreSQL, sized to the machine.

initdb's defaults (128 MB shared_buffers) were measured as the main cause of slow memory queries
at 1M memories: the HNSW index alone is ~1.1 GB, so most graph steps went to the OS page cache.
Sizes (a machine shared with other processes, so a modest share of RAM):

- shared_buffers: 1/4 of RAM (PostgreSQL's usual advice), from 128 MB up to 4 GB: the 1M-memory
  working set (HNSW index ~1.1 GB, vectors ~1.6 GB, texts) did not fit in 2 GB
- effective_cache_size: 1/2 of RAM (what the planner assumes the OS caches)
- work_mem: 16 MB (sorting the candidate lists of a hybrid query stays in memory)
- random_page_cost: 1.1 (local SSD, and the hot data in RAM: a random page costs about what a
  sequential one does). With the default 4 the planner AND-ed a big tenant's 50,000-row index
  bitmap into a selective full-text search to save heap visits that cost less than building it.

Written with ALTER SYSTEM (postgresql.auto.conf) only when they differ, so an operator's own
ALTER SYSTEM of another value is overwritten only by setting EMBEDDED_PG_TUNE=0 to stop this.
shared_buffers takes effect at the server's next start (the embedded server stops when the last
process using it exits); the others at once (pg_reload_conf).
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)
MB = 1024 * 1024


def _ram_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2048 * MB


def index_build_memory_mb(ram_bytes: int | None = None) -> int:
    """maintenance_work_mem for an HNSW build: 1/8 of RAM, from 1 GB up to 4 GB. A 1M-memory
    384-dim graph needs ~3 GB to build in memory; with 1 GB the build spilled and took far
    longer (docs/benchmarks.md)."""
    ram = ram_bytes if ram_bytes is not None else _ram_bytes()
    return min(max(ram // 8, 1024 * MB), 4096 * MB) // MB


def tuned_settings(ram_bytes: int | None = None) -> dict[str, str]:
    ram = ram_bytes if ram_bytes is not None else _ram_bytes()
    shared = min(max(ram // 4, 128 * MB), 4096 * MB)
    return {
        "shared_buffers": f"{shared // MB}MB",
        "effective_cache_size": f"{max(ram // 2, 512 * MB) // MB}MB",
        "work_mem": "16MB",
        "random_page_cost": "1.1",
    }


def embedded_server_tune(url: str) -> None:
    """Apply tuned_settings() to the embedded server at `url` (best effort, logged)."""
    if os.environ.get("EMBEDDED_PG_TUNE", "1") == "0":
        return
    import psycopg

    wanted = tuned_settings()
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            changed = False
            for name, value in wanted.items():
                row = conn.execute(
                    "SELECT setting, unit FROM pg_settings WHERE name = %s", [name]
                ).fetchone()
                if row is not None and _same(row[0], row[1], value):
                    continue
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")  # names/values are ours
                changed = True
            if changed:
                conn.execute("SELECT pg_reload_conf()")
                logger.info("embedded PostgreSQL tuned: %s (shared_buffers at next start)", wanted)
    except psycopg.Error:
        logger.warning("could not tune the embedded PostgreSQL", exc_info=True)


def _same(setting: str, unit: str | None, value: str) -> bool:
    """pg_settings reports memory in units (8kB pages or kB); compare in bytes (others as
    numbers)."""
    units = {"8kB": 8192, "kB": 1024, "MB": MB}
    try:
        if not unit:
            return float(setting) == float(value)
        current = int(setting) * units.get(unit, 1)
        return current == int(value.removesuffix("MB")) * MB
    except ValueError:
        return False
