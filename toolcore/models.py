"""The tool registry (Tool, its secret headers, Grant) and the ToolCall audit log."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from daarion.common.crypto import EncryptedTextField
from toolcore.ids import openai_name_for, validate_tool_id
from toolcore.registry import python_tool_get
from toolcore.schema import input_schema_problems, schema_problems

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_CREDENTIAL_HEADER = re.compile(
    r"authori[sz]ation|cookie|token|secret|api[-_]?key|password|credential|signature",
    re.IGNORECASE,
)
# Headers the executor sets itself; a tool may not override them.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "x-request-id"}
)


def default_input_schema() -> dict:
    return {"type": "object", "properties": {}, "additionalProperties": False}


class Executor(models.TextChoices):
    HTTP = "http", "HTTP request"
    PYTHON = "python", "Python function"
    MCP = "mcp", "Tool of an external MCP server"


class HttpMethod(models.TextChoices):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class Tool(models.Model):
    tool_id = models.CharField(
        max_length=64,
        unique=True,
        validators=[validate_tool_id],
        help_text="OpenAI-safe id ([A-Za-z0-9_-]); dotted seed ids such as 'projects.list' are "
        "accepted and called 'projects__list' by LLMs.",
    )
    openai_name = models.CharField(
        max_length=64, unique=True, editable=False, help_text="Function name shown to LLMs."
    )
    description = models.TextField(help_text="What the tool does, written for the LLM.")
    input_schema = models.JSONField(
        default=default_input_schema, help_text="JSON Schema (Draft 2020-12) of the arguments."
    )
    output_schema = models.JSONField(
        null=True, blank=True, help_text="Optional JSON Schema the result must match."
    )
    executor = models.CharField(max_length=16, choices=Executor.choices, default=Executor.HTTP)
    http_method = models.CharField(
        max_length=8, choices=HttpMethod.choices, default=HttpMethod.GET, blank=True
    )
    url_template = models.CharField(
        max_length=2000,
        blank=True,
        help_text="e.g. https://projects.internal/projects/{project_id}/tasks — placeholders "
        "are filled URL-encoded and may only appear after the host. Other arguments go to the "
        "query string (GET/DELETE) or the JSON body (POST/PUT/PATCH).",
    )
    headers = models.JSONField(
        default=dict, blank=True, help_text="Plain (non-secret) headers, e.g. {'Accept': '…'}."
    )
    python_function = models.CharField(
        max_length=64, blank=True, help_text="A function registered with @python_tool."
    )
    timeout_seconds = models.FloatField(
        default=10.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(300.0)],
        help_text="Total deadline for the call, retries included.",
    )
    retries = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(5)],
        help_text="Extra attempts after a connection error or 502/503/504; idempotent HTTP "
        "methods (GET, PUT, DELETE) only.",
    )
    mcp_server = models.ForeignKey(
        "McpServer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tools",
        help_text="The external MCP server that runs this tool (executor 'mcp').",
    )
    mcp_tool_name = models.CharField(
        max_length=128, blank=True, help_text="The tool's own name on that MCP server."
    )
    # MCP tool annotations (hints for clients; unknown when empty).
    read_only_hint = models.BooleanField(
        null=True, blank=True, help_text="The tool does not change anything."
    )
    destructive_hint = models.BooleanField(
        null=True, blank=True, help_text="The tool may delete or overwrite data."
    )
    idempotent_hint = models.BooleanField(
        null=True, blank=True, help_text="Calling it twice with the same arguments is harmless."
    )
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Bumped on every change."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tool_id"]

    def __str__(self) -> str:
        return self.tool_id

    def save(self, *args, **kwargs) -> None:
        self.openai_name = openai_name_for(self.tool_id)  # also for writes that skip clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.tool_id:
            self.openai_name = openai_name_for(self.tool_id)
        problems = input_schema_problems(self.input_schema)
        if problems:
            errors["input_schema"] = problems
        if self.output_schema not in (None, {}):
            output_problems = schema_problems(self.output_schema)
            if output_problems:
                errors["output_schema"] = output_problems
        if self.executor == Executor.HTTP:
            errors.update(self._http_problems())
        elif self.executor == Executor.PYTHON:
            if not self.python_function:
                errors["python_function"] = ["Choose a registered Python function."]
            elif python_tool_get(self.python_function) is None:
                errors["python_function"] = [
                    f"'{self.python_function}' is not a registered Python tool function."
                ]
        elif self.executor == Executor.MCP:
            if self.mcp_server_id is None:
                errors["mcp_server"] = ["MCP tools need an MCP server."]
            if not self.mcp_tool_name:
                errors["mcp_tool_name"] = ["Give the tool's name on the MCP server."]
        if errors:
            raise ValidationError(errors)

    def _http_problems(self) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if not self.http_method:
            errors["http_method"] = ["HTTP tools need a method."]
        template = self.url_template
        parts = urlsplit(template) if template else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors["url_template"] = ["Give an absolute http:// or https:// URL."]
        elif "{" in parts.netloc or "}" in parts.netloc or "@" in parts.netloc:
            errors["url_template"] = [
                "The scheme and host are fixed: placeholders and credentials may not appear "
                "before the path."
            ]
        elif isinstance(self.input_schema, dict):
            declared = set(self.input_schema.get("properties") or {})
            required = set(self.input_schema.get("required") or ())
            missing = [name for name in PLACEHOLDER.findall(template) if name not in declared]
            optional = [name for name in PLACEHOLDER.findall(template) if name not in required]
            if missing:
                errors["url_template"] = [
                    f"Placeholders not declared in the input schema: {', '.join(missing)}."
                ]
            elif optional:
                errors["url_template"] = [
                    f"Placeholders must be required arguments: {', '.join(optional)}."
                ]
        if not isinstance(self.headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()
        ):
            errors["headers"] = ['Headers must be a JSON object of strings: {"Name": "value"}.']
        else:
            bad = [k for k in self.headers if not _valid_header_name(k)]
            credentials = [k for k in self.headers if _CREDENTIAL_HEADER.search(k)]
            if bad:
                errors["headers"] = [f"Invalid or reserved header names: {', '.join(bad)}."]
            elif credentials:
                errors["headers"] = [
                    f"{', '.join(credentials)} look like credentials: add them as secret headers "
                    "(encrypted, never shown again) instead."
                ]
        return errors


def _valid_header_name(name: str) -> bool:
    return bool(_HEADER_NAME.match(name)) and name.lower() not in RESERVED_HEADERS


def validate_header_name(name: str) -> None:
    if not _valid_header_name(name):
        raise ValidationError("Not a valid header name, or a header the executor sets itself.")


class ToolSecretHeader(models.Model):
    """A header whose value is a credential: encrypted at rest, injected when the tool is called,
    never shown again in admin, never returned, never logged."""

    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="secret_headers")
    name = models.CharField(max_length=100, validators=[validate_header_name])
    value = EncryptedTextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tool", "name"], name="toolcore_secret_header_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name}: ••••••"


class McpServer(models.Model):
    """An external MCP server (streamable HTTP) whose tools are imported as executor 'mcp'."""

    name = models.CharField(
        max_length=24,
        unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]+$", "Letters, digits, '_' and '-' only.")],
        help_text="Prefix of the imported tool ids ('<name>.<tool>').",
    )
    url = models.URLField(
        max_length=2000,
        help_text="The streamable HTTP endpoint, e.g. https://tools.example.com/mcp. The SSRF "
        "guard applies: non-public hosts need TOOLCORE_ALLOWED_HOSTS.",
    )
    timeout_seconds = models.FloatField(
        default=30.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(300.0)],
        help_text="Deadline of one call (connect, handshake and the tool's answer).",
    )
    enabled = models.BooleanField(default=True, help_text="Disabled: its tools cannot be called.")
    last_imported_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "MCP server"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        parts = urlsplit(self.url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise ValidationError({"url": "Give an absolute http(s) URL without credentials."})


class McpServerSecretHeader(models.Model):
    """A credential header sent to an MCP server: encrypted, write-only, never returned."""

    server = models.ForeignKey(McpServer, on_delete=models.CASCADE, related_name="secret_headers")
    name = models.CharField(max_length=100, validators=[validate_header_name])
    value = EncryptedTextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["server", "name"], name="toolcore_mcp_header_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name}: ••••••"


class Grant(models.Model):
    """Agent ↔ tool allowlist: an agent may list and call exactly the tools granted to it."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="tool_grants")
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="grants")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "tool"], name="toolcore_grant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} → {self.tool}"


class Outcome(models.TextChoices):
    OK = "ok"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    INVALID_ARGS = "invalid_args"
    TIMEOUT = "timeout"
    UPSTREAM_ERROR = "upstream_error"
    DISABLED = "disabled"
    CANCELLED = "cancelled"  # the caller went away mid-call (audit only)
    STARTED = "started"  # written before the executor runs; completed after (audit only)


class ToolCall(models.Model):
    """One row per call, failures included. Arguments are stored with secrets redacted."""

    call_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    request_id = models.CharField(max_length=64, blank=True)
    agent_id = models.CharField(max_length=64, db_index=True)
    requested_tool = models.CharField(max_length=128, help_text="The id as the caller sent it.")
    tool = models.ForeignKey(
        Tool, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )
    tool_version = models.PositiveIntegerField(null=True, blank=True)
    args = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, db_index=True)
    error_message = models.TextField(blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    latency_ms = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["agent_id", "-created_at"], name="toolcall_agent_time")]

    def __str__(self) -> str:
        return f"{self.requested_tool} by {self.agent_id}: {self.outcome}"
