"""Small helpers shared by the gateway's tests."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from llm.models import UsageLog
from llm.usage import usage_flush


async def usage_rows() -> list[UsageLog]:
    """Every UsageLog row, oldest first, after the writer has flushed."""
    await sync_to_async(usage_flush, thread_sensitive=False)()
    return [row async for row in UsageLog.objects.order_by("created_at", "id")]


def db(fn):
    """Run a sync ORM-using callable from an async test."""
    return sync_to_async(fn)
