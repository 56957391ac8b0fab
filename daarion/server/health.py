"""Liveness and readiness. No auth, and nothing secret in the answers."""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def check_pgvector() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return {"ok": row is not None, "version": row[0] if row else None}


def check_cache() -> dict:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    ok = cache.get(key) == "1"
    cache.delete(key)
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    return {"ok": ok, "backend": backend}


def _run_check(path: str) -> tuple[str, dict]:
    name = path.rsplit(".", 1)[-1].removeprefix("check_")
    started = time.perf_counter()
    try:
        result = import_string(path)()
    except Exception as exc:  # a readiness probe reports failures, it does not raise them
        logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
        result = {"ok": False, "error": exc.__class__.__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return name, result


@require_GET
def liveness(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _run_check_closing(path: str) -> tuple[str, dict]:
    try:
        return _run_check(path)
    finally:
        connection.close()  # the check ran in a worker thread: don't leave its connection


# Checks run in these threads so a hung one (a database that does not answer) cannot hold the
# probe; a check still running at the deadline is reported as failed.
_checks_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readiness")


@require_GET
def readiness(request: HttpRequest) -> JsonResponse:
    paths = settings.DAARION_READINESS_CHECKS
    deadline = time.monotonic() + getattr(settings, "DAARION_READINESS_TIMEOUT_SECONDS", 1.5)
    futures = {path: _checks_pool.submit(_run_check_closing, path) for path in paths}
    checks: dict[str, dict] = {}
    for path, future in futures.items():
        try:
            name, result = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            name = path.rsplit(".", 1)[-1].removeprefix("check_")
            result = {"ok": False, "error": "timeout"}
        checks[name] = result
    ok = all(check.get("ok") for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503
    )
