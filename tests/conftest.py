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
def _fresh_registry_caches():
    """Each test sees the registry as it wrote it (caches are per process)."""
    from daarion.agents.selectors import agent_cache, token_cache

    agent_cache.invalidate()
    token_cache.invalidate()
    yield


@pytest.fixture
def internal_headers(settings) -> dict[str, str]:
    return {"X-Internal-Secret": settings.INTERNAL_SECRET}
