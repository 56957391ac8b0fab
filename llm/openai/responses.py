"""/v1/responses (OpenAI's Responses API) translated to a chat completion through the gateway.

The same path as /v1/chat/completions (routing, fallback, limits, budget, one usage row): the
request's `instructions` and `input` items become chat messages, function tools and
`text.format` become chat parameters, and the ChatResult becomes a Response object.

Not stored: `previous_response_id` (and `conversation`, `item_reference`) are refused with a
400 — see docs/decisions/0002-responses-api-without-storage.md. Clients send the whole
conversation as `input` (the Agents SDK, LangChain and pydantic-ai do by default).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from django.http import HttpRequest
from pydantic import BaseModel, ConfigDict, Field

from llm.openai.chat import OpenAIRequestError, openai_agent, openai_metadata
from llm.schemas import RequestMetadata
from llm.types import ChatRequest, ChatResult

# Responses parameters that mean the same on chat completions.
_SAME_PARAMS = (
    "temperature", "top_p", "user", "service_tier", "safety_identifier", "prompt_cache_key",
    "seed", "frequency_penalty", "presence_penalty",
)  # fmt: skip
_ROLE = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant"}
_NEEDS_STORAGE = ("previous_response_id", "conversation", "prompt")


class ResponsesBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=128)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    metadata: RequestMetadata | None = None
    stream: bool = False
    store: bool | None = None
    background: bool | None = None
    user: str | None = Field(default=None, max_length=256)


# --- request → chat ---------------------------------------------------------------------------
def _refuse_unsupported(body: ResponsesBody) -> None:
    extra = body.model_extra or {}
    for name in _NEEDS_STORAGE:
        if extra.get(name):
            raise OpenAIRequestError(
                f"'{name}' is not supported: this gateway does not store responses. Send the "
                "whole conversation as 'input' (with the Agents SDK: do not pass "
                "previous_response_id or conversation_id; with LangChain: leave "
                "use_previous_response_id off).",
                param=name,
                code="unsupported_parameter",
            )
    if body.background:
        raise OpenAIRequestError(
            "'background' is not supported.", param="background", code="unsupported_parameter"
        )


def _text_parts(content: Any, *, param: str, assistant: bool) -> str | list[dict]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise OpenAIRequestError("'content' must be a string or a list of parts.", param=param)
    parts: list[dict] = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "refusal":
            parts.append({"type": "text", "text": str(part.get("refusal") or "")})
        elif kind == "input_image" and part.get("image_url") and not assistant:
            image = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise OpenAIRequestError(
                f"Content part type '{kind}' is not supported (text and image URLs are).",
                param=f"{param}[{i}]",
            )
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _tool_output(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):  # output content parts
        texts = [p.get("text", "") for p in output if isinstance(p, dict)]
        return "".join(str(t) for t in texts)
    return orjson.dumps(output).decode()


def chat_messages(body: ResponsesBody) -> list[dict]:
    messages: list[dict] = []
    if body.instructions:
        messages.append({"role": "system", "content": body.instructions})
    if isinstance(body.input, str):
        messages.append({"role": "user", "content": body.input})
        return messages
    for i, item in enumerate(body.input):
        param = f"input[{i}]"
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = _ROLE.get(item.get("role"))  # type: ignore[arg-type]
            if role is None:
                raise OpenAIRequestError(f"Unknown role {item.get('role')!r}.", param=param)
            content = _text_parts(
                item.get("content"), param=f"{param}.content", assistant=role == "assistant"
            )
            messages.append({"role": role, "content": content})
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id") or item.get("id") or ""),
                "type": "function",
                "function": {
                    "name": str(item.get("name") or ""),
                    "arguments": item.get("arguments") or "{}",
                },
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)  # the same assistant turn
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": str(item.get("call_id") or ""),
                    "content": _tool_output(item.get("output")),
                }
            )
        elif kind == "reasoning":
            continue  # the model's own earlier reasoning: chat upstreams take no such input
        else:
            code = "unsupported_parameter" if kind == "item_reference" else "invalid_value"
            raise OpenAIRequestError(
                f"Input item type {kind!r} is not supported (messages, function_call and "
                "function_call_output are).",
                param=param,
                code=code,
            )
    if not messages:
        raise OpenAIRequestError("'input' is empty.", param="input")
    return messages


def _chat_tools(tools: list[dict]) -> list[dict]:
    converted = []
    for i, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise OpenAIRequestError(
                f"Tool type {tool.get('type')!r} is not supported; only function tools are.",
                param=f"tools[{i}]",
                code="unsupported_parameter",
            )
        function = {"name": tool.get("name"), "parameters": tool.get("parameters") or {}}
        for key in ("description", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        converted.append({"type": "function", "function": function})
    return converted


def _chat_tool_choice(choice: str | dict) -> str | dict:
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise OpenAIRequestError(
        "'tool_choice' must be auto, none, required or a function.", param="tool_choice"
    )


def _response_format(text: dict | None) -> dict | None:
    fmt = (text or {}).get("format") or {}
    kind = fmt.get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {"name": fmt.get("name") or "response", "schema": fmt.get("schema") or {}}
        for key in ("strict", "description"):
            if fmt.get(key) is not None:
                schema[key] = fmt[key]
        return {"type": "json_schema", "json_schema": schema}
    raise OpenAIRequestError(f"text.format type {kind!r} is not supported.", param="text")


def chat_params(body: ResponsesBody) -> dict:
    extra = body.model_extra or {}
    params: dict = {k: extra[k] for k in _SAME_PARAMS if extra.get(k) is not None}
    if body.user is not None:
        params["user"] = body.user
    if body.max_output_tokens is not None:
        params["max_tokens"] = body.max_output_tokens
    if body.tools:
        params["tools"] = _chat_tools(body.tools)
        if body.parallel_tool_calls is not None:
            params["parallel_tool_calls"] = body.parallel_tool_calls
    if body.tool_choice is not None and (body.tools or body.tool_choice == "none"):
        params["tool_choice"] = _chat_tool_choice(body.tool_choice)
    response_format = _response_format(body.text)
    if response_format:
        params["response_format"] = response_format
    if (body.reasoning or {}).get("effort"):
        params["reasoning_effort"] = body.reasoning["effort"]  # type: ignore[index]
    if body.top_logprobs:
        params["logprobs"] = True
        params["top_logprobs"] = body.top_logprobs
    forwarded = openai_metadata(body.metadata)
    if forwarded:
        params["metadata"] = forwarded
    return params


def responses_chat_request(request: HttpRequest, body: ResponsesBody) -> ChatRequest:
    _refuse_unsupported(body)
    metadata = body.metadata
    return ChatRequest(
        model=body.model,
        messages=chat_messages(body),
        agent_id=openai_agent(request.auth, metadata, body.user),
        microdao_id=metadata.microdao_id if metadata else None,
        params=chat_params(body),
        request_id=getattr(request, "request_id", None),
    )


# --- ChatResult → Response --------------------------------------------------------------------
def response_skeleton(body: ResponsesBody, *, response_id: str) -> dict:
    """The Response fields that echo the request (status, output and usage come later)."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "metadata": openai_metadata(body.metadata) or {},
        "model": body.model,
        "output": [],
        "parallel_tool_calls": True
        if body.parallel_tool_calls is None
        else body.parallel_tool_calls,
        "previous_response_id": None,
        "reasoning": {"effort": (body.reasoning or {}).get("effort"), "summary": None},
        "store": False,
        "temperature": (body.model_extra or {}).get("temperature"),
        "text": body.text or {"format": {"type": "text"}},
        "tool_choice": body.tool_choice or "auto",
        "tools": body.tools or [],
        "top_p": (body.model_extra or {}).get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": body.user,
    }


def response_usage(result: ChatResult) -> dict:
    details = result.extra.get("usage") or {}
    prompt_details = details.get("prompt_tokens_details") or {}
    completion_details = details.get("completion_tokens_details") or {}
    return {
        "input_tokens": result.usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": prompt_details.get("cached_tokens") or 0},
        "output_tokens": result.usage["completion_tokens"],
        "output_tokens_details": {
            "reasoning_tokens": completion_details.get("reasoning_tokens") or 0
        },
        "total_tokens": result.usage["total_tokens"],
    }


def message_item(item_id: str, text: str, *, status: str = "completed") -> dict:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def function_call_item(item_id: str, call: dict, *, status: str = "completed") -> dict:
    function = call.get("function") or {}
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.get("id") or item_id,
        "name": function.get("name") or "",
        "arguments": function.get("arguments") or "",
        "status": status,
    }


def output_items(result: ChatResult, *, response_id: str) -> list[dict]:
    suffix = response_id.removeprefix("resp_")
    items = []
    message = result.message
    if message.get("content"):
        items.append(message_item(f"msg_{suffix}", message["content"]))
    elif message.get("refusal"):
        item = message_item(f"msg_{suffix}", "")
        item["content"] = [{"type": "refusal", "refusal": message["refusal"]}]
        items.append(item)
    for i, call in enumerate(message.get("tool_calls") or ()):
        items.append(function_call_item(f"fc_{suffix}_{i}", call))
    return items


def finished(skeleton: dict, result: ChatResult, output: list[dict]) -> dict:
    """The final Response: completed, or incomplete when the model hit a limit."""
    response = {**skeleton, "output": output, "usage": response_usage(result)}
    reason = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(
        result.finish_reason
    )
    response["status"] = "incomplete" if reason else "completed"
    response["incomplete_details"] = {"reason": reason} if reason else None
    response["completed_at"] = int(time.time())
    response["daarion"] = result.gateway_meta()
    return response
