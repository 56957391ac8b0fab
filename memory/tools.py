"""The built-in tool `memory_search`: an agent searches its own memory (toolcore's registry).

The caller's identity comes from the tool context, never from the arguments, so an agent can
only ever search the memory it is allowed to read (its own, or its microDAO's when shared).
"""

from __future__ import annotations

from daarion.common.errors import ApiError
from memory.selectors import memory_query
from toolcore.registry import ToolArgumentError, python_tool
from toolcore.types import ToolContext


@python_tool(
    name="memory_search",
    description=(
        "Search your long-term memory: past conversations (mid) and the knowledge base (long). "
        "Use it when the user refers to something discussed earlier or asks about documented "
        "facts. Give the key words of what you are looking for, in the user's language."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "minLength": 1,
                "maxLength": 2000,
                "description": "What to look for (key words or a question).",
            },
            "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
            "tiers": {
                "type": "array",
                "items": {"type": "string", "enum": ["mid", "long"]},
                "minItems": 1,
                "uniqueItems": True,
                "description": "mid = past conversations, long = knowledge base. Default: both.",
            },
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    timeout=10.0,
)
async def memory_search(
    ctx: ToolContext, *, query: str, limit: int = 5, tiers: list[str] | None = None
) -> dict:
    try:
        result = await memory_query(
            agent_id=ctx.agent_id,
            microdao_id=ctx.microdao_id,
            query=query,
            limit=limit,
            tiers=tiers or ["mid", "long"],
        )
    except ApiError as exc:
        raise ToolArgumentError(exc.message) from None
    return {
        "items": [
            {
                "id": item.id,
                "tier": item.tier,
                "text": item.text,
                "score": item.score,
                "created_at": item.created_at.isoformat(),
                "metadata": item.metadata,
            }
            for item in result.items
        ],
        "degraded": result.degraded,
    }
