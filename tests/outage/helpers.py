"""Make the database unreachable for this process, for real: new connections go to a socket
folder that does not exist (connections already open are closed first)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections

from llm.usage import usage_writer_disconnect
from llm.usage_lane import usage_lane_disconnect

_NOWHERE = "/nonexistent/daarion-database-is-down"


def _close_everywhere() -> None:
    usage_writer_disconnect()  # the usage writer's own connections
    usage_lane_disconnect()  # and the event loops' usage lanes (an outage drops them too)
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)
    connections.close_all()


def _down() -> str:
    settings_dict = connections["default"].settings_dict  # shared by every thread's wrapper
    host = settings_dict["HOST"]
    _close_everywhere()
    settings_dict["HOST"] = _NOWHERE
    return host


def _up(host: str) -> None:
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)
    connections.close_all()
    connections["default"].settings_dict["HOST"] = host


@contextlib.contextmanager
def database_down() -> Iterator[None]:
    host = _down()
    try:
        yield
    finally:
        _up(host)


@contextlib.asynccontextmanager
async def adatabase_down() -> AsyncIterator[None]:
    # In a worker thread: closing connections is sync-only, and the shared ORM thread is used.
    host = await sync_to_async(_down, thread_sensitive=False)()
    try:
        yield
    finally:
        await sync_to_async(_up, thread_sensitive=False)(host)
