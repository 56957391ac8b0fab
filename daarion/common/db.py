"""Database connection helpers shared by the apps' hot paths."""

from __future__ import annotations

from django.db import connection


def release_connection() -> None:
    """Give this thread's database connection back (to the pool) right after a cache load, so
    a request does not hold it while it waits for a provider. Never inside a transaction."""
    if not connection.in_atomic_block:
        connection.close()
