"""Built-in Python tools that work offline (registered on import, from ToolcoreConfig.ready)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from toolcore.registry import ToolArgumentError, python_tool
from toolcore.types import ToolContext


@python_tool(
    name="time_now",
    description=(
        "Current date and time. Use it for questions about today, now, deadlines or how long "
        "ago something happened. Optionally give an IANA time zone such as 'Europe/Kyiv'."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "timezone": {
                "type": "string",
                "description": "IANA time zone name, e.g. 'Europe/Kyiv'. Default: UTC.",
                "maxLength": 64,
            }
        },
        "additionalProperties": False,
    },
    timeout=2.0,
)
async def time_now(ctx: ToolContext, *, timezone: str = "UTC") -> dict:
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ToolArgumentError(
            f"Unknown time zone '{timezone}'. Use an IANA name such as 'Europe/Kyiv' or 'UTC'."
        ) from None
    now = dt.datetime.now(dt.UTC).astimezone(zone)
    return {
        "iso": now.isoformat(timespec="seconds"),
        "date": now.date().isoformat(),
        "time": now.strftime("%H:%M:%S"),
        "weekday": now.strftime("%A"),
        "timezone": timezone,
        "utc_offset": now.strftime("%z"),
        "unix": int(now.timestamp()),
    }


@python_tool(
    name="whoami",
    description="The calling agent's own id and microDAO id (useful before calling other tools "
    "that need them).",
    input_schema={"type": "object", "properties": {}, "additionalProperties": False},
    timeout=1.0,
)
async def whoami(ctx: ToolContext) -> dict:
    return {"agent_id": ctx.agent_id, "microdao_id": ctx.microdao_id}
