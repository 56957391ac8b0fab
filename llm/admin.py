"""Admin for the gateway: providers with write-only keys, routes with targets, the usage log and
the usage report page."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html

from daarion.common.admin_read_only import ReadOnlyModelAdmin
from llm.models import (
    ModelRoute,
    Provider,
    ProviderKey,
    RouteKind,
    RouteTarget,
    UsageDeadLetter,
    UsageLog,
)
from llm.reports import report_csv, report_svg
from llm.selectors import GROUPS, parse_since, usage_report, usage_report_totals
from llm.services import provider_test


class ProviderKeyForm(forms.ModelForm):
    """The secret is write-only: never rendered back; leave it empty to keep the current one."""

    new_secret = forms.CharField(
        label="Secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored key.",
    )

    class Meta:
        model = ProviderKey
        fields = ("label", "is_active")

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("new_secret"):
            self.add_error("new_secret", "Enter the key.")
        return cleaned

    def save(self, commit: bool = True):
        secret = self.cleaned_data.get("new_secret")
        if secret:
            self.instance.secret = secret
        return super().save(commit)


class ProviderKeyInline(admin.TabularInline):
    model = ProviderKey
    form = ProviderKeyForm
    extra = 0
    fields = ("label", "masked", "new_secret", "is_active", "created_at", "last_used_at")
    readonly_fields = ("masked", "created_at", "last_used_at")

    @admin.display(description="Stored key")
    def masked(self, obj: ProviderKey) -> str:
        if not obj.pk:
            return "-"
        return f"••••••••{obj.last4}" if obj.last4 else "••••••••"


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "kind_label", "endpoint", "enabled", "health", "health_checked_at")
    list_filter = ("kind", "enabled", "health_state")
    search_fields = ("name", "base_url")
    readonly_fields = ("health_state", "health_detail", "health_checked_at", "created_at")
    inlines = [ProviderKeyInline]
    actions = ["test_providers"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Kind", ordering="kind")
    def kind_label(self, obj: Provider) -> str:
        return obj.get_kind_display()

    @admin.display(description="Base URL")
    def endpoint(self, obj: Provider) -> str:
        return obj.effective_base_url or "(none)"

    @admin.display(description="Health", ordering="health_state")
    def health(self, obj: Provider) -> str:
        colour = {"ok": "#2e7d32", "failing": "#c62828"}.get(obj.health_state, "#777")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_health_state_display())

    @admin.action(description="Test selected providers (a tiny real call)")
    def test_providers(self, request: HttpRequest, queryset) -> None:
        for provider in queryset:
            outcome = provider_test(provider=provider)
            level = messages.SUCCESS if outcome.ok else messages.ERROR
            verdict = "OK" if outcome.ok else "FAILED"
            self.message_user(
                request,
                f"{outcome.provider}: {verdict} in {outcome.latency_ms} ms — {outcome.detail}",
                level,
            )


class RouteTargetFormSet(forms.BaseInlineFormSet):
    """Embedding routes: every target needs dimensions, and all the same (a fallback must not
    change the vector size a caller stores)."""

    def clean(self) -> None:
        super().clean()
        if self.instance.kind != RouteKind.EMBEDDING:
            return
        sizes = {
            form.cleaned_data.get("dimensions")
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        }
        if None in sizes:
            raise forms.ValidationError("Every target of an embedding route needs dimensions.")
        if len(sizes) > 1:
            raise forms.ValidationError(
                "All targets of an embedding route must return the same dimensions "
                f"(got {', '.join(str(n) for n in sorted(sizes))})."  # type: ignore[type-var]
            )


class RouteTargetInline(admin.TabularInline):
    model = RouteTarget
    formset = RouteTargetFormSet
    extra = 0
    fields = (
        "provider",
        "physical_model",
        "priority",
        "weight",
        "input_price_per_1m",
        "output_price_per_1m",
        "dimensions",
        "enabled",
    )
    autocomplete_fields = ("provider",)


@admin.register(ModelRoute)
class ModelRouteAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "target_summary", "updated_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name",)
    inlines = [RouteTargetInline]

    @admin.display(description="Targets (by priority)")
    def target_summary(self, obj: ModelRoute) -> str:
        return " → ".join(
            f"{t.provider.name}:{t.physical_model}"
            for t in obj.targets.select_related("provider").order_by("priority", "id")
        )


REPORT_DEFAULTS = {"group_by": "day", "since": "30d", "chart": "cost_usd"}


class UsageReportForm(forms.Form):
    group_by = forms.ChoiceField(choices=[(g, g) for g in GROUPS], initial="day")
    since = forms.CharField(initial="30d", help_text="24h, 7d, 2w or a date (2026-01-31)")
    chart = forms.ChoiceField(
        choices=[
            ("cost_usd", "cost (USD)"),
            ("requests", "requests"),
            ("total_tokens", "tokens"),
            ("error_rate", "error rate"),
            ("latency_p95_ms", "latency p95"),
        ],
        initial="cost_usd",
    )

    def clean_since(self):
        try:
            return parse_since(self.cleaned_data["since"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


@admin.register(UsageLog)
class UsageLogAdmin(ReadOnlyModelAdmin):
    # Few, narrow columns so status, cost and latency fit at 1400 px beside the filters; the
    # request id is searchable and shown on the row's page, the microDAO is a filter.
    list_display = (
        "created_at",
        "agent_id",
        "model",
        "provider",
        "status_label",
        "total_tokens",
        "cost",
        "latency",
        "fallback_used",
    )
    list_filter = ("status", "kind", "stream", "fallback_used", "provider", "model", "microdao_id")
    search_fields = ("request_id", "agent_id", "microdao_id", "model")
    date_hierarchy = "created_at"
    change_list_template = "admin/llm/usagelog/change_list.html"
    show_full_result_count = False  # counting a big log on every page load is slow

    @admin.display(description="status", ordering="status")
    def status_label(self, obj: UsageLog) -> str:
        if obj.status == "ok":
            return format_html('<b style="color:{}">{}</b>', "#2e7d32", "ok")
        colour = "#c62828" if obj.status == "error" else "#777"
        return format_html(
            '<b style="color:{}">{}</b> <span title="{}">{}</span>',
            colour,
            obj.status,
            obj.error_message,
            obj.error_type,
        )

    @admin.display(description="cost $", ordering="cost_usd")
    def cost(self, obj: UsageLog) -> str:
        return f"{obj.cost_usd:.6f}"

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: UsageLog) -> str:
        return f"{obj.latency_ms:,.0f} ms"

    def get_urls(self):
        report = self.admin_site.admin_view(self.report_view)
        return [path("report/", report, name="llm_usagelog_report"), *super().get_urls()]

    def report_view(self, request: HttpRequest) -> HttpResponse:
        # A missing or empty parameter takes its default (a bookmarked or hand-written URL).
        given = {key: str(value) for key, value in request.GET.items() if str(value).strip()}
        form = UsageReportForm({**REPORT_DEFAULTS, **given})
        rows: list[dict] = []
        if form.is_valid():
            rows = usage_report(
                group_by=form.cleaned_data["group_by"], since=form.cleaned_data["since"]
            )
            if request.GET.get("format") == "csv":
                response = HttpResponse(report_csv(rows), content_type="text/csv")
                name = f"usage-by-{form.cleaned_data['group_by']}.csv"
                response["Content-Disposition"] = f'attachment; filename="{name}"'
                return response
        context = {
            **self.admin_site.each_context(request),
            "title": "LLM usage report",
            "opts": self.model._meta,
            "form": form,
            "rows": rows,
            "totals": usage_report_totals(rows),
            "chart": report_svg(rows, metric=form.cleaned_data.get("chart", "cost_usd"))
            if form.is_valid()
            else "",
            "csv_query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/llm/usagelog/report.html", context)


@admin.register(UsageDeadLetter)
class UsageDeadLetterAdmin(admin.ModelAdmin):
    """Usage rows the database refused: read-only evidence (fix the cause, then delete)."""

    list_display = ("created_at", "request_id", "reason")
    search_fields = ("request_id", "reason")
    readonly_fields = ("created_at", "request_id", "reason", "payload")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
