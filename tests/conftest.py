"""Shared fixtures. Tests never leave 127.0.0.1: a guard refuses any other outbound address."""

from __future__ import annotations

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX path (the embedded PostgreSQL socket)
        return True
    host = address[0]
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def _guarded_connect(self, address):
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach {address!r} (only 127.0.0.1)")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach {address!r} (only 127.0.0.1)")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network_beyond_loopback():
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    yield
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Each test starts from, and leaves behind, fresh process-wide state: every registry cache,
    the breaker, budgets, metrics, and the usage writer's queue (written, not dropped)."""
    from daarion.common.process_state import process_state_reset

    process_state_reset()
    yield
    process_state_reset()


@pytest.fixture
def internal_headers(settings) -> dict[str, str]:
    return {"X-Internal-Secret": settings.INTERNAL_SECRET}


@pytest.fixture(autouse=True, scope="session")
def _close_async_thread_connections(django_db_setup, django_db_blocker):
    """Async code reaches the ORM through asgiref's shared executor thread, and usage rows are
    written on the gateway writer's own connection: close both at the end so the test database
    can be dropped."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from llm.usage import usage_writer_disconnect
    from llm.usage_lane import usage_lane_disconnect
    from memory.facts.dispatch import facts_dispatch_disconnect

    usage_writer_disconnect()
    usage_lane_disconnect()
    facts_dispatch_disconnect()
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)
