"""Fixtures of the gateway's tests: short retry backoff, a live server, Redis."""

from __future__ import annotations

import pytest

from llm.usage import usage_flush


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    """Process state is reset by the root conftest; here only the retry backoff is shortened."""
    settings.LLM_RETRY_BACKOFF_SECONDS = 0.01


@pytest.fixture
def flush_usage():
    """Call to wait until every usage row so far is in the database."""
    return usage_flush


@pytest.fixture(scope="module")
def live_server_url():
    """Our ASGI app served by uvicorn in a thread of this process (so signals, caches and the
    test database are shared); tests using it need django_db(transaction=True)."""
    import threading
    import time

    import uvicorn

    from daarion.server.asgi import application
    from tests.fakes.server import free_port

    port = free_port()
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_url():
    """REDIS_URL, else 127.0.0.1:6379, else a redis-server started for the session."""
    import os
    import shutil
    import subprocess
    import time

    from tests.fakes.server import free_port

    for url in filter(None, [os.environ.get("REDIS_URL"), "redis://127.0.0.1:6379/0"]):
        if _redis_answers(url):
            yield url
            return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis: set REDIS_URL, run one on 127.0.0.1:6379, or install redis-server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.skip("redis-server could not be started")
        time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def server_env(settings, redis_url):
    """Environment for `run_app_server`: production settings module on the test database and
    a Redis cache with a key prefix of its own."""
    import uuid

    from tests.fakes.server import production_server_env

    return {
        **production_server_env(settings),
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}",
    }
