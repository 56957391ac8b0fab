"""Writes of the tool registry, and `tool_call` — the one way a tool runs.

`tool_call` resolves the tool from the cached registry, applies the permission predicate shared
with listing, validates the arguments against the input schema, runs the executor, and writes
one ToolCall audit row whatever happens. Tool-level failures come back as a ToolError in the
result, never as an exception.

The audit is write-ahead: before an executor runs, its row is committed with outcome `started`
and completed (one UPDATE) after. If that row cannot be written the tool does not run and the
caller gets ServiceUnavailable (503, Retry-After): no tool acts without a trace. If the
completion cannot be written, it is spooled to disk and replayed (toolcore/audit_spool.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from daarion.agents.selectors import agent_aget
from daarion.agents.validators import AGENT_ID_RE
from daarion.common.errors import ServiceUnavailable
from daarion.common.input_rules import json_problem
from toolcore.audit_spool import ToolCompletion, audit_complete
from toolcore.errors import ToolCallFailed
from toolcore.executors.http import execute_http
from toolcore.executors.mcp import execute_mcp
from toolcore.executors.python import execute_python
from toolcore.ids import openai_name_for
from toolcore.models import (
    Executor,
    Grant,
    McpServer,
    Outcome,
    Tool,
    ToolCall,
    ToolSecretHeader,
)
from toolcore.registry import python_tool_get
from toolcore.schema import (
    args_errors,
    redact,
    scrub,
    scrub_deep,
    storable_text,
    strip_optional_nulls,
)
from toolcore.selectors import EXPORTED_FIELDS, ToolSpec, registry_asnapshot, tool_definition
from toolcore.types import ToolCallResult, ToolContext, ToolError

logger = logging.getLogger(__name__)

_EXECUTORS = {
    Executor.HTTP: execute_http,
    Executor.PYTHON: execute_python,
    Executor.MCP: execute_mcp,
}


# --- calling -------------------------------------------------------------------------------


async def tool_call(
    *,
    agent_id: str,
    tool_id: str,
    args: dict,
    request_id: str | None = None,
    args_problem: str | None = None,
) -> ToolCallResult:
    """Call `tool_id` as `agent_id`. Never raises for tool-level failures (see ToolError).

    `args_problem`: the caller could not make arguments of what it was given (an agent turn
    whose model sent text that is not a JSON object): the call is refused as `invalid_args`
    with that message — after the permission check, and audited like any call."""
    started = time.perf_counter()
    call_id = str(uuid.uuid4())
    spec: ToolSpec | None = None
    outcome = Outcome.OK
    result: Any = None
    error: ToolError | None = None
    http_status: int | None = None
    attempts = 0
    audit_started = False  # the `started` row is in: complete it instead of inserting one
    # The input rules of every API body (daarion/common/input_rules.py) hold for arguments that
    # reach us otherwise too — decided by a model in an agent turn, or by a Python caller: NUL,
    # lone surrogates or nesting deeper than MAX_JSON_DEPTH are refused before the tool runs, and
    # the audit row records why instead of the value (which it could not store or render).
    refused = json_problem(args) if isinstance(args, dict | list) else None
    if refused is not None:
        args_problem = f"{refused[0]} {refused[1]}. Send plain JSON values and call again."
    if args_problem is not None:
        args = {"refused_arguments": args_problem}
    try:
        valid_id = isinstance(agent_id, str) and AGENT_ID_RE.match(agent_id)
        agent = await agent_aget(agent_id=agent_id) if valid_id else None
        snapshot = await registry_asnapshot()
        spec = snapshot.resolve(tool_id) if isinstance(tool_id, str) else None
        if not snapshot.may_use(agent, spec):
            # Unknown and forbidden look the same to the caller; the audit row tells them apart.
            outcome = Outcome.NOT_FOUND if spec is None else Outcome.PERMISSION_DENIED
            error = ToolError(
                type="not_found",
                message=f"No tool named '{tool_id}' is available to this agent. "
                "Call only the tools you were given.",
            )
        elif spec is None or agent is None:  # may_use() is False for both; for the type checker
            raise AssertionError("may_use admitted a missing agent or tool")
        elif not spec.available:
            outcome = Outcome.DISABLED
            error = ToolError(
                type="disabled",
                message=f"The tool '{spec.name}' is disabled. Answer without it.",
            )
        else:
            ctx = ToolContext(
                agent_id=agent.id,
                microdao_id=agent.microdao_id,
                request_id=request_id,
                call_id=call_id,
            )
            if args_problem is not None:
                raise ToolCallFailed(
                    "invalid_args", f"Invalid arguments for '{spec.name}': {args_problem}"
                )
            cleaned = _validated_args(spec, args)
            await _audit_start(
                call_id=call_id,
                request_id=request_id,
                agent_id=agent_id,
                requested_tool=tool_id,
                spec=spec,
                args=args,
            )
            audit_started = True
            result, http_status, attempts = await _run(spec, cleaned, ctx)
    except ToolCallFailed as failure:
        outcome = Outcome(failure.error_type)
        secrets = spec.secret_values if spec else ()
        error = ToolError(
            type=failure.error_type,
            message=scrub(failure.message, secrets),
            details=scrub_deep(failure.details, secrets),
        )
        http_status, attempts = failure.http_status, failure.attempts
    except asyncio.CancelledError:
        # The caller went away mid-call. The tool may already have acted, so the audit row is
        # still written (shielded from a second cancellation) before the cancellation goes on.
        await asyncio.shield(
            _record(
                call_id=call_id,
                request_id=request_id,
                agent_id=agent_id,
                requested_tool=tool_id,
                spec=spec,
                args=args,
                outcome=Outcome.CANCELLED,
                error=ToolError(type="upstream_error", message="The call was cancelled."),
                http_status=None,
                attempts=attempts,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                update=audit_started,
            )
        )
        raise
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    await _record(
        call_id=call_id,
        request_id=request_id,
        agent_id=agent_id,
        requested_tool=tool_id,
        spec=spec,
        args=args,
        outcome=outcome,
        error=error,
        http_status=http_status,
        attempts=attempts,
        latency_ms=latency_ms,
        update=audit_started,
    )
    logger.info(
        "tool call %s agent=%r tool=%r outcome=%s attempts=%s latency_ms=%.1f",
        call_id,
        agent_id,
        spec.tool_id if spec else tool_id,
        outcome,
        attempts,
        latency_ms,
    )
    return ToolCallResult(
        ok=error is None,
        result=result if error is None else None,
        call_id=call_id,
        latency_ms=latency_ms,
        tool_id=spec.tool_id if spec and outcome != Outcome.PERMISSION_DENIED else None,
        error=error,
    )


def _validated_args(spec: ToolSpec, args: Any) -> dict:
    if not isinstance(args, dict):
        raise ToolCallFailed("invalid_args", "args must be a JSON object.")
    cleaned = strip_optional_nulls(spec.input_schema, args)
    errors = args_errors(spec.validator, cleaned)
    if errors:
        summary = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
        raise ToolCallFailed(
            "invalid_args",
            f"Invalid arguments for '{spec.name}': {summary}. Fix them and call again.",
            details={"errors": errors},
        )
    return cleaned


async def _run(spec: ToolSpec, cleaned: dict, ctx: ToolContext) -> tuple[Any, int | None, int]:
    try:
        execution = await _EXECUTORS[spec.executor](spec=spec, args=cleaned, ctx=ctx)  # type: ignore[index]
    except ToolCallFailed:
        raise
    except Exception:  # an executor bug must not become a 500 or leak internals
        logger.exception("executor %s failed for tool %s", spec.executor, spec.tool_id)
        raise ToolCallFailed(
            "upstream_error", f"The tool failed with an internal error (call id {ctx.call_id})."
        ) from None
    result = scrub_deep(execution.result, spec.secret_values)
    if spec.output_validator is not None and not spec.output_validator.is_valid(result):
        raise ToolCallFailed(
            "upstream_error",
            "The tool returned data that does not match its declared output schema.",
            http_status=execution.http_status,
            attempts=execution.attempts,
        )
    return result, execution.http_status, execution.attempts


async def _audit_start(
    *,
    call_id: str,
    request_id: str | None,
    agent_id: str,
    requested_tool: Any,
    spec: ToolSpec,
    args: Any,
) -> None:
    """Commit the call's `started` row before the executor runs; 503 if it cannot be written."""
    try:
        await ToolCall.objects.acreate(
            call_id=call_id,
            **_audit_identity(request_id, agent_id, requested_tool, spec),
            args=redact(args, schema=spec.input_schema, secrets=spec.secret_values),
            outcome=Outcome.STARTED,
            latency_ms=0,
        )
    except DatabaseError as exc:
        logger.error("tool call %s not run: its audit row could not be written (%s)", call_id, exc)
        raise ServiceUnavailable(
            "The tool was not called: its audit record could not be written. Try again shortly.",
            headers={"Retry-After": "2"},
        ) from None


def _audit_identity(request_id: Any, agent_id: Any, requested_tool: Any, spec: ToolSpec | None):
    return {
        "request_id": storable_text(str(request_id or ""))[:64],
        "agent_id": storable_text(str(agent_id))[:64],
        "requested_tool": storable_text(str(requested_tool))[:128],
        "tool_id": spec.pk if spec else None,
        "tool_version": spec.version if spec else None,
    }


async def _record(
    *,
    call_id: str,
    request_id: str | None,
    agent_id: str,
    requested_tool: Any,
    spec: ToolSpec | None,
    args: Any,
    outcome: str,
    error: ToolError | None,
    http_status: int | None,
    attempts: int,
    latency_ms: float,
    update: bool = False,
) -> None:
    """The call's final audit state: completes its `started` row (`update`) or inserts one."""
    completion = ToolCompletion(
        call_id=call_id,
        outcome=outcome,
        error_message=storable_text(error.message) if error else "",  # scrubbed of secrets
        http_status=http_status,
        attempts=attempts,
        latency_ms=latency_ms,
    )
    if update:
        # The tool has acted: failing the request now would invite a retry that acts twice. A
        # completion the database cannot take now is spooled to disk and replayed later.
        await audit_complete(completion)
        return
    secrets = spec.secret_values if spec else ()
    await ToolCall.objects.acreate(
        call_id=call_id,
        **_audit_identity(request_id, agent_id, requested_tool, spec),
        args=redact(args, schema=spec.input_schema if spec else None, secrets=secrets),
        **completion.values(),
    )


# --- registry writes (admin, seeders, other apps' setup) -------------------------------------


def tool_save(*, tool: Tool) -> Tool:
    """Validate and save `tool`, bumping its version when its definition changed."""
    tool.full_clean()
    if tool.pk is not None:
        previous = Tool.objects.filter(pk=tool.pk).first()
        if previous is not None and tool_definition(previous) != tool_definition(tool):
            tool.version = previous.version + 1
    tool.save()
    return tool


@transaction.atomic
def tool_upsert(
    *,
    tool_id: str,
    description: str,
    input_schema: dict,
    executor: str,
    output_schema: dict | None = None,
    http_method: str = "GET",
    url_template: str = "",
    headers: dict[str, str] | None = None,
    secret_headers: dict[str, str] | None = None,
    python_function: str = "",
    timeout_seconds: float = 10.0,
    retries: int = 0,
    enabled: bool = True,
    read_only_hint: bool | None = None,
    destructive_hint: bool | None = None,
    idempotent_hint: bool | None = None,
    mcp_server: str | None = None,
    mcp_tool_name: str = "",
) -> Tool:
    """Create or update a tool by id (idempotent). `secret_headers`, when given, replaces the
    tool's secret headers; None leaves them alone. `mcp_server` names an McpServer."""
    tool = Tool.objects.filter(openai_name=openai_name_for(tool_id)).first() or Tool()
    tool.tool_id = tool_id
    tool.description = description
    tool.input_schema = input_schema
    tool.output_schema = output_schema
    tool.executor = executor
    tool.http_method = http_method if executor == Executor.HTTP else ""
    tool.url_template = url_template
    tool.headers = headers or {}
    tool.python_function = python_function
    tool.timeout_seconds = timeout_seconds
    tool.retries = retries
    tool.enabled = enabled
    tool.read_only_hint = read_only_hint
    tool.destructive_hint = destructive_hint
    tool.idempotent_hint = idempotent_hint
    tool.mcp_server = McpServer.objects.get(name=mcp_server) if mcp_server else None
    tool.mcp_tool_name = mcp_tool_name
    tool_save(tool=tool)
    if secret_headers is not None:
        tool_secret_headers_set(tool=tool, headers=secret_headers)
    return tool


def tool_secret_headers_set(*, tool: Tool, headers: dict[str, str]) -> None:
    tool.secret_headers.exclude(name__in=list(headers)).delete()
    for name, value in headers.items():
        header = ToolSecretHeader.objects.filter(tool=tool, name=name).first()
        header = header or ToolSecretHeader(tool=tool, name=name)
        header.value = value
        header.full_clean()
        header.save()


def python_tool_install(
    *, function_name: str, tool_id: str | None = None, enabled: bool = True
) -> Tool:
    """A Tool row for a registered Python function, with its description and schema."""
    registered = python_tool_get(function_name)
    if registered is None:
        raise ValueError(f"no Python tool named {function_name!r} is registered")
    return tool_upsert(
        tool_id=tool_id or function_name,
        description=registered.description,
        input_schema=registered.input_schema,
        executor=Executor.PYTHON,
        python_function=function_name,
        timeout_seconds=registered.timeout or 10.0,
        enabled=enabled,
    )


def tool_grant(*, agent_id: str, tool_id: str) -> Grant:
    tool = Tool.objects.get(openai_name=openai_name_for(tool_id))
    grant, _ = Grant.objects.get_or_create(agent_id=agent_id, tool=tool)
    return grant


def tool_grant_many(*, agent_id: str, tool_ids: Iterable[str]) -> list[Grant]:
    return [tool_grant(agent_id=agent_id, tool_id=tool_id) for tool_id in tool_ids]


def tool_revoke(*, agent_id: str, tool_id: str) -> None:
    Grant.objects.filter(agent_id=agent_id, tool__openai_name=openai_name_for(tool_id)).delete()


# --- registry as code (used by `manage.py registry import`) --------------------------------


def tool_definition_problems(
    *, definition: dict[str, Any], mcp_server_names: Iterable[str] = ()
) -> dict[str, list[str]]:
    """What is wrong with a tool definition (as exported), without writing anything.
    `mcp_server_names`: servers that will exist besides those in the database."""
    known = {*EXPORTED_FIELDS, "secret_header_names"}
    unknown = sorted(set(definition) - known)
    if unknown:
        return {"__all__": [f"Unknown keys: {', '.join(unknown)}."]}
    fields = {k: v for k, v in definition.items() if k in EXPORTED_FIELDS}
    server_name = fields.pop("mcp_server", None)
    existing = Tool.objects.filter(openai_name=openai_name_for(str(fields.get("tool_id", ""))))
    candidate = existing.first() or Tool()
    for name, value in fields.items():
        setattr(candidate, name, value)
    candidate.mcp_server = None
    exclude = []
    if server_name:
        server = McpServer.objects.filter(name=server_name).first()
        if server is None and server_name not in set(mcp_server_names):
            return {"mcp_server": [f"Unknown MCP server '{server_name}'."]}
        if server is not None:
            candidate.mcp_server = server
        else:  # defined in the same file: a stand-in id passes the "needs a server" check
            candidate.mcp_server_id = 0
            exclude = ["mcp_server"]
    try:
        candidate.full_clean(exclude=exclude)
    except ValidationError as exc:
        return exc.message_dict
    return {}


def tool_import(*, definition: dict[str, Any]) -> Tool:
    """Create or update a tool from an exported definition (idempotent). Secret header values
    are not part of exports: existing ones are kept, missing ones must be set in admin."""
    fields = {k: v for k, v in definition.items() if k in EXPORTED_FIELDS}
    return tool_upsert(**fields)
