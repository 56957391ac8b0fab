"""The reference agent turn: memory → tools → LLM (with a bounded tool loop) → reply → memory.

Every step but the LLM call degrades instead of failing: without memory the agent answers without
context (and says so in `degraded`), a failing tool's error is fed back to the model as the tool's
result, and a failed memory write is reported, not raised. A memory query slower than
RUNTIME_MEMORY_TIMEOUT_SECONDS counts as unavailable. If the LLM gateway fails, the user's message
is still stored so nothing is lost, and the gateway's error is raised to the caller with
`degraded` (always holding "llm"; "memory_store" when the message could not be kept) and
`message_stored` added to its body.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import orjson
from django.conf import settings

from daarion.agents.access import agent_access_acheck
from daarion.common.errors import ApiError, BadRequest
from daarion.common.input_rules import json_problem
from daarion.runtime.types import ToolCallRecord, TurnEvent, TurnResult, TurnUsage
from llm import gateway
from llm.models import ProviderKind
from llm.registry import registry_aget
from llm.types import ChatRequest
from memory.selectors import memory_query
from memory.services import memory_store
from toolcore.selectors import tools_for_agent
from toolcore.services import tool_call

logger = logging.getLogger(__name__)

Observer = Callable[[TurnEvent], None]


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _memory_context(items: list[dict[str, Any]]) -> str:
    recent = [item for item in items if item["tier"] == "short"]
    relevant = [item for item in items if item["tier"] != "short"]
    parts = []
    if recent:
        lines = "\n".join(f"- {item['text']}" for item in reversed(recent))
        parts.append(f"Recent messages in this channel (oldest first):\n{lines}")
    if relevant:
        lines = "\n".join(f"- [{item['tier']}] {item['text']}" for item in relevant)
        parts.append(f"Relevant memories and knowledge:\n{lines}")
    return "\n\n".join(parts)


def _system_message(agent: Any, memories: list[dict[str, Any]], degraded: list[str]) -> dict:
    content = agent.system_prompt or "You are a helpful assistant."
    # Tools often need these ids as arguments; the model cannot guess them.
    content += f"\n\nYou are agent {agent.id} of microDAO {agent.microdao_id}."
    context = _memory_context(memories)
    if context:
        content += "\n\n" + context
    if "memory" in degraded:
        content += "\n\n(Memory is unavailable for this turn; answer without it.)"
    return {"role": "system", "content": content}


def _tool_message(tool_call_id: str, record: ToolCallRecord) -> dict:
    payload = (
        {"ok": True, "result": record.result} if record.ok else {"ok": False, "error": record.error}
    )
    return {
        "role": "tool",
        "tool_call_id": tool_call_id,
        "content": orjson.dumps(payload, default=str).decode(),
    }


def _parse_arguments(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(raw, dict):
        return raw, None
    try:
        parsed = orjson.loads(raw or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return None, "The tool arguments were not valid JSON; send a JSON object."
    if not isinstance(parsed, dict):
        return None, "The tool arguments must be a JSON object."
    return parsed, None


async def _run_tool(
    *, agent_id: str, name: str, raw_arguments: Any, request_id: str
) -> ToolCallRecord:
    parsed, problem = _parse_arguments(raw_arguments)
    # Unparseable or unstorable arguments go to toolcore too: it refuses them as invalid_args
    # after the permission check and audits the refusal (never the hostile value).
    args = parsed if parsed is not None else {}
    outcome = await tool_call(
        agent_id=agent_id, tool_id=name, args=args, request_id=request_id, args_problem=problem
    )
    if json_problem(args) is not None:
        # Refused by toolcore's input rules (NUL, surrogates, too deep): the turn's answer and
        # events must not carry a value that cannot be rendered or stored.
        args = {}
    error = None
    if outcome.error is not None:
        error = {"type": outcome.error.type, "message": outcome.error.message}
    return ToolCallRecord(
        tool_id=outcome.tool_id or name,
        function_name=name,
        args=args,
        ok=outcome.ok,
        call_id=str(outcome.call_id) if outcome.call_id else None,
        latency_ms=outcome.latency_ms,
        result=outcome.result if outcome.ok else None,
        error=error,
    )


async def agent_respond(
    *,
    agent_id: str,
    message: str,
    channel_id: str | None = None,
    microdao_id: str | None = None,
    request_id: str | None = None,
    observer: Observer | None = None,
) -> TurnResult:
    """Run one turn for `agent_id` answering `message`; see the module docstring."""
    started = time.perf_counter()
    request_id = request_id or uuid.uuid4().hex
    notify = observer or (lambda event: None)
    message = message.strip()
    if not message:
        raise BadRequest("message must not be empty.")

    # The one access policy: 404 unknown, 403 inactive or outside the named microDAO.
    agent = await agent_access_acheck(agent_id=agent_id, microdao_id=microdao_id)
    microdao_id = agent.microdao_id
    degraded: list[str] = []
    timing: dict[str, float] = {}

    # 1. memory: recent channel messages and relevant memories
    step = time.perf_counter()
    memories: list[dict[str, Any]] = []
    try:
        # A slow memory must not hold the whole turn: past the timeout, answer without it.
        async with asyncio.timeout(settings.RUNTIME_MEMORY_TIMEOUT_SECONDS):
            found = await memory_query(
                agent_id=agent_id,
                microdao_id=microdao_id,
                query=message,
                limit=settings.RUNTIME_MEMORY_LIMIT,
                channel_id=channel_id,
            )
        memories = [_memory_item_dict(item) for item in found.items]
        notify(TurnEvent("memories", {"items": memories}))
    except TimeoutError:
        logger.warning("memory query timed out for %s; answering without memory", agent_id)
        degraded.append("memory")
        notify(TurnEvent("degraded", {"step": "memory"}))
    except Exception:
        logger.warning(
            "memory query failed for %s; answering without memory", agent_id, exc_info=True
        )
        degraded.append("memory")
        notify(TurnEvent("degraded", {"step": "memory"}))
    timing["memory_query"] = _elapsed_ms(step)

    # 2. the agent's tools, in OpenAI format
    step = time.perf_counter()
    tools: list[dict] = []
    try:
        tools = await tools_for_agent(agent_id=agent_id, fmt="openai")
    except Exception:
        logger.warning(
            "tool listing failed for %s; answering without tools", agent_id, exc_info=True
        )
        degraded.append("tools")
        notify(TurnEvent("degraded", {"step": "tools"}))
    timing["tools_list"] = _elapsed_ms(step)

    # 3. the LLM, with a bounded tool loop
    messages: list[dict] = [
        _system_message(agent, memories, degraded),
        {"role": "user", "content": message},
    ]
    usage = TurnUsage()
    records: list[ToolCallRecord] = []
    step = time.perf_counter()
    try:
        reply = await _converse(
            agent=agent,
            messages=messages,
            tools=tools,
            usage=usage,
            records=records,
            request_id=request_id,
            notify=notify,
        )
    except Exception as exc:
        # The LLM failed: keep the user's message (nothing is lost), then report the error.
        await _store_exchange(
            agent_id=agent_id,
            microdao_id=microdao_id,
            channel_id=channel_id,
            message=message,
            reply=None,
            request_id=request_id,
            records=records,
            degraded=degraded,
        )
        degraded.append("llm")
        if isinstance(exc, ApiError):
            # The caller learns what else failed and whether its message was kept.
            exc.details = {
                **exc.details,
                "degraded": list(degraded),
                "message_stored": "memory_store" not in degraded,
            }
        raise
    timing["llm_and_tools"] = _elapsed_ms(step)
    notify(TurnEvent("reply", {"text": reply}))

    # 4. remember the exchange (an offline provider's echo is not worth remembering: only the
    # user's message is stored, so a keyless demo does not fill memory with its own replies)
    step = time.perf_counter()
    stored_ids = await _store_exchange(
        agent_id=agent_id,
        microdao_id=microdao_id,
        channel_id=channel_id,
        message=message,
        reply=None if await _answered_offline(usage) else reply,
        request_id=request_id,
        records=records,
        degraded=degraded,
    )
    timing["memory_store"] = _elapsed_ms(step)
    timing["total"] = _elapsed_ms(started)
    return TurnResult(
        agent_id=agent_id,
        microdao_id=microdao_id,
        channel_id=channel_id,
        reply=reply,
        model=agent.default_model,
        tool_calls=records,
        memories_used=memories,
        usage=usage,
        degraded=degraded,
        stored_memory_ids=stored_ids,
        request_id=request_id,
        timing_ms=timing,
    )


async def _converse(*, agent, messages, tools, usage, records, request_id, notify) -> str:
    max_rounds = settings.RUNTIME_MAX_TOOL_ROUNDS
    for round_number in range(max_rounds + 1):
        # The last round offers no tools, so the model must answer in text.
        offer_tools = bool(tools) and round_number < max_rounds
        params: dict[str, Any] = {"tools": tools, "tool_choice": "auto"} if offer_tools else {}
        result = await gateway.chat(
            ChatRequest(
                model=agent.default_model,
                messages=messages,
                agent_id=agent.id,
                microdao_id=agent.microdao_id,
                params=params,
                request_id=request_id,
            )
        )
        usage.add(result.usage, result.cost_usd, result.provider)
        requested = (result.message.get("tool_calls") or []) if offer_tools else []
        if not requested:
            return result.message.get("content") or ""
        messages.append(
            {"role": "assistant", "content": result.message.get("content"), "tool_calls": requested}
        )
        for call in requested:
            function = call.get("function") or {}
            notify(
                TurnEvent(
                    "tool_call",
                    {"name": function.get("name"), "arguments": function.get("arguments")},
                )
            )
            record = await _run_tool(
                agent_id=agent.id,
                name=function.get("name") or "",
                raw_arguments=function.get("arguments"),
                request_id=request_id,
            )
            records.append(record)
            notify(TurnEvent("tool_result", asdict(record)))
            messages.append(_tool_message(call.get("id") or "", record))
    return ""  # unreachable: the last round offers no tools


async def _answered_offline(usage: TurnUsage) -> bool:
    registry = await registry_aget()
    kinds = {
        registry.providers[name].kind for name in usage.providers if name in registry.providers
    }
    return ProviderKind.OFFLINE in kinds


async def _store_exchange(
    *, agent_id, microdao_id, channel_id, message, reply, request_id, records, degraded
) -> list[Any]:
    try:
        stored = await memory_store(
            agent_id=agent_id,
            microdao_id=microdao_id,
            channel_id=channel_id,
            user_message=message,
            agent_reply=reply,
            metadata={"request_id": request_id, "tools": [record.tool_id for record in records]},
            idempotency_key=f"turn:{request_id}:{'reply' if reply is not None else 'message'}",
        )
        return list(stored.ids)
    except Exception:
        logger.warning("storing the exchange failed for %s", agent_id, exc_info=True)
        degraded.append("memory_store")
        return []


def _memory_item_dict(item: Any) -> dict[str, Any]:
    data = asdict(item) if hasattr(item, "__dataclass_fields__") else dict(item)
    return {key: data.get(key) for key in ("id", "tier", "text", "score", "metadata", "created_at")}
