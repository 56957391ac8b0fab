"""Make the database unreachable for this process, for real: new connections go to a socket
folder that does not exist (connections already open are closed first)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from asgiref.sync import SyncToAsync
from django.db import connections

from llm.usage import usage_writer_disconnect


def _close_everywhere() -> None:
    usage_writer_disconnect()  # the usage writer's own connections (written first)
    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)
    connections.close_all()


@contextlib.contextmanager
def database_down() -> Iterator[None]:
    settings_dict = connections["default"].settings_dict  # shared by every thread's wrapper
    host = settings_dict["HOST"]
    _close_everywhere()
    settings_dict["HOST"] = "/nonexistent/daarion-database-is-down"
    try:
        yield
    finally:
        # Connections opened during the outage are broken: drop them before going back.
        for wrapper in connections.all(initialized_only=True):
            wrapper.close()
        settings_dict["HOST"] = host
