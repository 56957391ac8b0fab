from __future__ import annotations

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from daarion.agents.models import Agent, MicroDAO, Scope, ServiceToken
from daarion.agents.services import service_token_assign_secret, service_token_revoke


def chat_route_names() -> list[str]:
    """Enabled chat routes of the LLM gateway, read through the app registry: agents sit below
    llm in the import order, so the gateway's models are not imported here."""
    if not apps.is_installed("llm"):
        return []
    route = apps.get_model("llm", "ModelRoute")
    return list(
        route.objects.filter(kind="chat", enabled=True)
        .order_by("name")
        .values_list("name", flat=True)
    )


class AgentForm(forms.ModelForm):
    """The default model is chosen from the gateway's chat routes, so a typo cannot save (every
    turn would then fail with an unknown model)."""

    default_model = forms.ChoiceField(
        help_text="A chat route of the LLM gateway (LLM gateway → Model routes)."
    )

    class Meta:
        model = Agent
        fields = (
            "id",
            "microdao",
            "display_name",
            "system_prompt",
            "default_model",
            "rate_limit",
            "is_active",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = chat_route_names()
        current = self.instance.default_model if self.instance.pk else ""
        choices = [(name, name) for name in names]
        if current and current not in names:  # keep showing a stale value so it can be fixed
            choices.insert(0, (current, f"{current} (no such chat route)"))
        self.fields["default_model"].choices = [("", "---------"), *choices]
        if not current and "sofia-default" in names:
            self.fields["default_model"].initial = "sofia-default"

    def clean_default_model(self) -> str:
        value = self.cleaned_data["default_model"]
        if value not in chat_route_names():
            raise forms.ValidationError(
                f"'{value}' is not an enabled chat route; choose one of the listed routes."
            )
        return value


class AgentInline(admin.TabularInline):
    model = Agent
    form = AgentForm
    fields = ("id", "display_name", "default_model", "rate_limit", "is_active")
    extra = 0
    show_change_link = True


@admin.register(MicroDAO)
class MicroDAOAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "monthly_budget_usd", "shares_memory", "created_at")
    search_fields = ("id", "name")
    inlines = [AgentInline]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    list_display = ("id", "display_name", "microdao", "default_model", "rate_limit", "is_active")
    list_filter = ("is_active", "microdao")
    search_fields = ("id", "display_name")
    # Apps add their per-agent inlines (e.g. tool grants) in their own admin modules.
    inlines: list = []  # type: ignore[misc]


class ServiceTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ServiceToken
        fields = ("name", "scopes", "agent")


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ServiceToken)
class ServiceTokenAdmin(admin.ModelAdmin):
    form = ServiceTokenForm
    list_display = ("name", "status", "prefix", "scopes", "agent", "created_at", "last_used_at")
    list_filter = (TokenStatusFilter,)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke_tokens"]

    def save_model(self, request: HttpRequest, obj: ServiceToken, form, change: bool) -> None:
        if not change:
            # Shown once on the next page, never stored in clear text or in a cookie.
            request._new_service_token = service_token_assign_secret(token=obj)  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: ServiceToken, post_url_continue=None
    ) -> HttpResponse:
        raw = getattr(request, "_new_service_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": "Service token created",
            "opts": self.opts,
            "token": obj,
            "raw_token": raw,
        }
        response = TemplateResponse(request, "admin/agents/servicetoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.display(description="Status", ordering="revoked_at")
    def status(self, obj: ServiceToken) -> str:
        if obj.revoked_at is None:
            return format_html('<b style="color:{}">{}</b>', "#2e7d32", "active")
        return format_html(
            '<b style="color:#c62828">revoked</b> {}',
            obj.revoked_at.strftime("%Y-%m-%d %H:%M"),
        )

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset) -> None:
        for token in queryset:
            service_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)
