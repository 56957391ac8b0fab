"""Readiness check for GET /internal/health (no secrets: ids and counts only)."""

from __future__ import annotations

from toolcore.selectors import registry_snapshot


def check_tools() -> dict:
    """Tool registry loads; lists enabled tools that cannot run here (Python function missing).
    Those degrade to `disabled` answers, so they do not make the service unready."""
    snapshot = registry_snapshot()
    enabled = [tool for tool in snapshot.tools.values() if tool.enabled]
    unavailable = sorted(tool.tool_id for tool in enabled if not tool.available)
    return {"ok": True, "enabled": len(enabled), "unavailable": unavailable}
