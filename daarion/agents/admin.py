from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from daarion.agents.models import Agent, MicroDAO, Scope, ServiceToken
from daarion.agents.services import service_token_assign_secret, service_token_revoke


class AgentInline(admin.TabularInline):
    model = Agent
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


@admin.register(ServiceToken)
class ServiceTokenAdmin(admin.ModelAdmin):
    form = ServiceTokenForm
    list_display = ("name", "prefix", "scopes", "agent", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
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

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset) -> None:
        for token in queryset:
            service_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)
