"""Admin for tools, grants (inline on tools and on agents) and the read-only call audit."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count
from django.http import HttpRequest

from daarion.agents.admin import AgentAdmin
from daarion.common.admin_read_only import ReadOnlyModelAdmin
from toolcore.mcp.importer import McpImportError, mcp_server_import_tools
from toolcore.models import (
    Grant,
    McpServer,
    McpServerSecretHeader,
    Tool,
    ToolCall,
    ToolSecretHeader,
)
from toolcore.registry import python_tool_names
from toolcore.services import tool_save

SECRET_MASK = "••••••••"  # noqa: S105  (a placeholder shown instead of a secret)


class SecretHeaderForm(forms.ModelForm):
    """Write-only value: the stored secret is never rendered; blank on edit keeps it."""

    value = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the stored value.",
    )

    class Meta:
        model = ToolSecretHeader
        fields = ("name", "value")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("value", None)  # never carry the decrypted value into the form
        if self.instance.pk:
            self.fields["value"].widget.attrs["placeholder"] = f"{SECRET_MASK} (stored)"

    def clean_value(self) -> str:
        value = self.cleaned_data.get("value") or ""
        if value:
            return value
        if self.instance.pk:
            return self._meta.model.objects.get(pk=self.instance.pk).value
        if self.cleaned_data.get("name"):
            raise forms.ValidationError("Enter the secret value.")
        return value

    def has_changed(self) -> bool:
        # An untouched existing row must not count as changed just because the value is blank.
        changed = super().has_changed()
        if self.instance.pk and not self.data.get(self.add_prefix("value")):
            return any(name != "value" for name in self.changed_data)
        return changed


class McpSecretHeaderForm(SecretHeaderForm):
    class Meta:
        model = McpServerSecretHeader
        fields = ("name", "value")


class McpSecretHeaderInline(admin.TabularInline):
    model = McpServerSecretHeader
    form = McpSecretHeaderForm
    extra = 0
    verbose_name = "secret header"
    verbose_name_plural = "secret headers (encrypted, write-only, sent to the MCP server)"


class SecretHeaderInline(admin.TabularInline):
    model = ToolSecretHeader
    form = SecretHeaderForm
    extra = 0
    verbose_name = "secret header"
    verbose_name_plural = "secret headers (encrypted, write-only, injected server-side)"


class GrantOnToolInline(admin.TabularInline):
    model = Grant
    fields = ("agent", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("agent",)
    extra = 0
    verbose_name = "agent allowed to use this tool"
    verbose_name_plural = "agents allowed to use this tool"


class GrantOnAgentInline(admin.TabularInline):
    model = Grant
    fields = ("tool", "created_at")
    readonly_fields = ("created_at",)
    extra = 0
    verbose_name = "tool grant"
    verbose_name_plural = "tools this agent may call"


class ToolForm(forms.ModelForm):
    python_function = forms.ChoiceField(required=False, choices=())

    class Meta:
        model = Tool
        fields = (
            "tool_id",
            "description",
            "enabled",
            "input_schema",
            "output_schema",
            "executor",
            "timeout_seconds",
            "retries",
            "http_method",
            "url_template",
            "headers",
            "python_function",
            "mcp_server",
            "mcp_tool_name",
            "read_only_hint",
            "destructive_hint",
            "idempotent_hint",
        )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["python_function"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (name, name) for name in python_tool_names()
        ]
        self.fields["python_function"].help_text = "Functions registered in code (@python_tool)."


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    form = ToolForm
    list_display = (
        "tool_id",
        "openai_name",
        "executor",
        "http_method",
        "enabled",
        "version",
        "grant_count",
        "updated_at",
    )
    list_filter = ("executor", "enabled")
    search_fields = ("tool_id", "openai_name", "description")
    readonly_fields = ("openai_name", "version", "created_at", "updated_at")
    inlines = [SecretHeaderInline, GrantOnToolInline]
    fieldsets = (
        (None, {"fields": ("tool_id", "openai_name", "description", "enabled", "version")}),
        ("Schemas (JSON Schema Draft 2020-12)", {"fields": ("input_schema", "output_schema")}),
        ("Execution", {"fields": ("executor", "timeout_seconds", "retries")}),
        ("HTTP", {"fields": ("http_method", "url_template", "headers")}),
        ("Python", {"fields": ("python_function",)}),
        ("MCP", {"fields": ("mcp_server", "mcp_tool_name")}),
        (
            "Annotations (hints shown to MCP clients)",
            {"fields": ("read_only_hint", "destructive_hint", "idempotent_hint")},
        ),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(_grant_count=Count("grants"))

    @admin.display(description="grants", ordering="_grant_count")
    def grant_count(self, obj: Tool) -> int:
        return obj._grant_count  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Tool, form, change: bool) -> None:
        tool_save(tool=obj)


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "enabled", "tool_count", "last_imported_at", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "url")
    readonly_fields = ("last_imported_at", "created_at", "updated_at")
    inlines = [McpSecretHeaderInline]
    actions = ["import_tools"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(_tool_count=Count("tools"))

    @admin.display(description="tools", ordering="_tool_count")
    def tool_count(self, obj: McpServer) -> int:
        return obj._tool_count  # type: ignore[attr-defined]

    @admin.action(description="Import (or re-import) the tools of the selected MCP servers")
    def import_tools(self, request: HttpRequest, queryset) -> None:
        for server in queryset:
            try:
                report = mcp_server_import_tools(server=server)
            except McpImportError as exc:
                self.message_user(request, f"MCP server '{server.name}': {exc}", messages.ERROR)
                continue
            level = messages.WARNING if report.removed or report.skipped else messages.SUCCESS
            self.message_user(request, report.summary(), level)


@admin.register(ToolCall)
class ToolCallAdmin(ReadOnlyModelAdmin):
    """Read-only audit log (arguments are stored already redacted)."""

    list_display = (
        "created_at",
        "agent_id",
        "requested_tool",
        "outcome",
        "http_status",
        "attempts",
        "latency_ms",
    )
    list_filter = ("outcome", "tool", "agent_id", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("call_id", "request_id", "agent_id", "requested_tool")
    list_select_related = ("tool",)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [field.name for field in self.model._meta.fields]


if GrantOnAgentInline not in AgentAdmin.inlines:
    AgentAdmin.inlines.append(GrantOnAgentInline)
