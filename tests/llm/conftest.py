"""Fixtures of the gateway's tests: fresh caches/breaker per test, fake upstreams."""

from __future__ import annotations

import pytest

from llm.breaker import breaker
from llm.budget import budget_reset
from llm.metrics import metrics_reset
from llm.registry import registry_invalidate
from llm.usage import usage_flush


@pytest.fixture(autouse=True)
def _fresh_gateway_state(settings):
    settings.LLM_RETRY_BACKOFF_SECONDS = 0.01
    registry_invalidate()
    budget_reset()
    breaker.reset()
    metrics_reset()
    yield
    usage_flush()
    breaker.reset()


@pytest.fixture
def flush_usage():
    """Call to wait until every usage row so far is in the database."""
    return usage_flush


@pytest.fixture(autouse=True, scope="session")
def _close_async_thread_connections(django_db_setup, django_db_blocker):
    """Async tests reach the ORM through asgiref's shared executor thread; close its connection
    at the end so the test database can be dropped."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)


@pytest.fixture(scope="module")
def live_server_url():
    """Our ASGI app served by uvicorn in a thread of this process (so signals, caches and the
    test database are shared); tests using it need django_db(transaction=True)."""
    import threading
    import time

    import uvicorn

    from daarion.asgi import application
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
