"""The decorator registry of Python tools: only functions registered here can ever run.

    from toolcore.registry import python_tool, ToolFailure

    @python_tool(name="time_now", description="…", input_schema={...}, timeout=2)
    async def time_now(ctx: ToolContext, *, timezone: str = "UTC") -> dict: ...

A Tool row with executor "python" names one of these functions (the admin offers a choice from
this list; a free dotted path is never accepted). Raise `ToolArgumentError` for arguments the
schema could not rule out and `ToolFailure` for expected failures: their messages go to the LLM.
Any other exception becomes a generic upstream_error and is logged with its traceback.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toolcore.ids import is_openai_safe
from toolcore.schema import schema_problems


class ToolFailure(Exception):
    """An expected failure whose message is safe to show the LLM (→ upstream_error)."""


class ToolArgumentError(ToolFailure):
    """The arguments are valid JSON-Schema-wise but still unusable (→ invalid_args)."""


@dataclass(frozen=True, slots=True)
class PythonTool:
    name: str
    description: str
    input_schema: dict
    timeout: float | None
    fn: Callable[..., Any]
    is_async: bool
    signature: inspect.Signature


_REGISTRY: dict[str, PythonTool] = {}


def python_tool(
    *, name: str, description: str, input_schema: dict, timeout: float | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(ctx: ToolContext, **args)` (async or sync) as the Python tool `name`."""
    if not is_openai_safe(name):
        raise ValueError(f"python tool name {name!r} must match [A-Za-z0-9_-]{{1,64}}")
    problems = schema_problems(input_schema)
    if problems:
        raise ValueError(f"python tool {name!r} has an invalid input schema: {problems[0]}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.fn is not fn:
            same = (existing.fn.__module__, existing.fn.__qualname__) == (
                fn.__module__,
                fn.__qualname__,
            )
            if not same:  # a module reload re-registers the same function; anything else clashes
                raise ValueError(f"python tool {name!r} is already registered")
        _REGISTRY[name] = PythonTool(
            name=name,
            description=description,
            input_schema=input_schema,
            timeout=timeout,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            signature=inspect.signature(fn),
        )
        return fn

    return register


def python_tool_get(name: str) -> PythonTool | None:
    return _REGISTRY.get(name)


def python_tool_names() -> list[str]:
    return sorted(_REGISTRY)


def python_tool_unregister(name: str) -> None:
    """For tests that register throwaway tools."""
    _REGISTRY.pop(name, None)
