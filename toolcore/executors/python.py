"""Python executor: runs only functions registered with @python_tool, under a deadline.

Exceptions never leak: ToolArgumentError → invalid_args and ToolFailure → upstream_error with
the tool's own (LLM-safe) message; anything else → a generic upstream_error naming the call id,
with the traceback in the server log. A sync function runs in a worker thread; on timeout the
caller gets its answer at the deadline, though the thread itself finishes in the background.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from asgiref.sync import sync_to_async

from toolcore.errors import ToolCallFailed
from toolcore.executors import Execution
from toolcore.registry import ToolArgumentError, ToolFailure, python_tool_get
from toolcore.types import ToolContext

logger = logging.getLogger(__name__)


async def execute_python(*, spec, args: dict[str, Any], ctx: ToolContext) -> Execution:
    registered = python_tool_get(spec.python_function)
    if registered is None:
        raise ToolCallFailed("disabled", "This tool is not available in this deployment.")
    deadline = spec.timeout_seconds
    if registered.timeout is not None:
        deadline = min(deadline, registered.timeout)
    try:  # the Tool row's schema may allow what the function does not take
        registered.signature.bind(ctx, **args)
    except TypeError as exc:
        raise ToolCallFailed("invalid_args", f"Invalid arguments: {exc}.", attempts=0) from None
    if registered.is_async:
        call = registered.fn(ctx, **args)
    else:
        call = sync_to_async(registered.fn, thread_sensitive=False)(ctx, **args)
    try:
        async with asyncio.timeout(deadline) as scope:
            result = await call
    except TimeoutError:
        if scope.expired():
            raise ToolCallFailed(
                "timeout", f"The tool did not finish within {deadline:g} s.", attempts=1
            ) from None
        raise _internal_failure(spec, ctx) from None
    except ToolArgumentError as exc:
        raise ToolCallFailed("invalid_args", str(exc) or "Invalid arguments.", attempts=1) from None
    except ToolFailure as exc:
        raise ToolCallFailed("upstream_error", str(exc) or "The tool failed.", attempts=1) from None
    except Exception:
        raise _internal_failure(spec, ctx) from None
    try:
        orjson.dumps(result)
    except TypeError:
        logger.error("python tool %s returned a value that is not JSON", spec.python_function)
        raise ToolCallFailed(
            "upstream_error", "The tool returned a result that is not JSON.", attempts=1
        ) from None
    return Execution(result=result, attempts=1)


def _internal_failure(spec, ctx: ToolContext) -> ToolCallFailed:
    logger.exception("python tool %s failed (call %s)", spec.python_function, ctx.call_id)
    return ToolCallFailed(
        "upstream_error",
        f"The tool failed with an internal error (call id {ctx.call_id}).",
        attempts=1,
    )
