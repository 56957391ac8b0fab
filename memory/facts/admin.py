"""Admin: facts with their history and sources, corrections, extraction progress and settings."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from daarion.common.admin_read_only import ReadOnlyModelAdmin
from daarion.common.errors import ApiError
from memory.facts import selectors, services
from memory.facts.config import facts_config_default, facts_config_get
from memory.facts.models import (
    Fact,
    FactAudit,
    FactExtraction,
    FactSettings,
    FactSource,
    FactStatus,
)
from memory.types import TenantScope


def _scope(fact: Fact) -> TenantScope:
    return TenantScope(microdao_id=fact.microdao_id, agent_id=fact.agent_id, shares_memory=False)


def _fact_link(fact: Fact) -> str:
    url = reverse("admin:facts_fact_change", args=[fact.pk])
    return format_html('<a href="{}">#{}</a>', url, fact.pk)


@admin.register(Fact)
class FactAdmin(admin.ModelAdmin):
    list_display = ("id", "agent", "subject", "text", "status", "valid_from", "valid_until")
    list_filter = ("status", "origin", "microdao", "agent")
    search_fields = ("subject", "text")
    list_select_related = ("agent",)
    fields = (
        "microdao",
        "agent",
        "subject",
        "text",
        "status",
        "origin",
        "valid_from",
        "valid_until",
        "superseded_by",
        "history",
        "source_memories",
    )
    actions = ["mark_incorrect"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        editable = ("subject", "text") if obj is not None and obj.status == "current" else ()
        return [name for name in self.fields if name not in editable]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # facts come from extraction; an edit makes a new version

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # forget the source memory instead (audited, takes the vectors too)

    @admin.display(description="history (oldest first)")
    def history(self, obj: Fact) -> str:
        rows = [
            (
                reverse("admin:facts_fact_change", args=[version.pk]),
                version.pk,
                version.status,
                f"{version.valid_from:%Y-%m-%d %H:%M}",
                f"{version.valid_until:%Y-%m-%d %H:%M}" if version.valid_until else "now",
                version.text,
            )
            for version in selectors.fact_history(fact=obj)
        ]
        return format_html(
            "<ol>{}</ol>",
            format_html_join("", '<li><a href="{}">#{}</a> [{}] {} → {}: {}</li>', rows),
        )

    @admin.display(description="source memories")
    def source_memories(self, obj: Fact) -> str:
        rows = [
            (
                reverse("admin:memory_memory_change", args=[int(source["memory_id"])]),
                source["memory_id"],
                source["created_at"][:16],
                source["excerpt"],
            )
            for source in selectors.fact_sources(fact_ids=[obj.pk]).get(obj.pk, [])
        ]
        if not rows:
            return "—"
        return format_html(
            "<ul>{}</ul>", format_html_join("", '<li><a href="{}">memory #{}</a> {}: {}</li>', rows)
        )

    def save_model(self, request: HttpRequest, obj: Fact, form, change: bool) -> None:
        """An edit is a new version superseding this one (the old text stays in history)."""
        from memory.facts.api import fact_embed_save

        try:
            new = services.fact_edit(
                scope=_scope(obj),
                fact_id=obj.pk,
                text=form.cleaned_data["text"],
                subject=form.cleaned_data["subject"],
                actor=f"admin:{request.user.get_username()}",
            )
        except ApiError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        async_to_sync(fact_embed_save)(new)  # best effort (full text finds it meanwhile)
        self.message_user(request, f"Saved as a new version: fact #{new.pk}.", messages.SUCCESS)

    def response_change(self, request: HttpRequest, obj: Fact):
        newest = Fact.objects.filter(pk=obj.pk).values_list("superseded_by", flat=True).first()
        if newest:
            from django.shortcuts import redirect

            return redirect("admin:facts_fact_change", newest)
        return super().response_change(request, obj)

    @admin.action(description="Mark incorrect (never retrieved, kept for audit)")
    def mark_incorrect(self, request: HttpRequest, queryset) -> None:
        actor = f"admin:{request.user.get_username()}"
        for fact in queryset.exclude(status=FactStatus.INCORRECT):
            services.fact_mark_incorrect(scope=_scope(fact), fact_id=fact.pk, actor=actor)
        self.message_user(request, "Marked incorrect.", messages.SUCCESS)


class DerivedFactInline(admin.TabularInline):
    """On a memory's page: the facts extracted from it."""

    model = FactSource
    fk_name = "memory"
    extra = 0
    can_delete = False
    verbose_name = "derived fact"
    verbose_name_plural = "derived facts"
    fields = ("fact_link", "fact_status", "fact_text")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="fact")
    def fact_link(self, obj: FactSource) -> str:
        return _fact_link(obj.fact)

    @admin.display(description="status")
    def fact_status(self, obj: FactSource) -> str:
        return obj.fact.status

    @admin.display(description="text")
    def fact_text(self, obj: FactSource) -> str:
        return obj.fact.text


@admin.register(FactExtraction)
class FactExtractionAdmin(admin.ModelAdmin):
    list_display = (
        "memory",
        "status",
        "attempts",
        "next_attempt_at",
        "added",
        "duplicates",
        "superseded",
        "last_error",
        "updated_at",
    )
    list_filter = ("status",)
    readonly_fields = [f.name for f in FactExtraction._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(FactSettings)
class FactSettingsAdmin(admin.ModelAdmin):
    list_display = ("scope", "enabled", "route", "effective")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        """Say whether extraction runs by default, with the reason when it does not."""
        config = facts_config_default()
        if config.enabled:
            self.message_user(request, f"Fact extraction is on (route {config.route}).")
        else:
            self.message_user(
                request, f"Fact extraction is off by default: {config.reason}.", messages.WARNING
            )
        return super().changelist_view(request, extra_context)

    @admin.display(description="scope")
    def scope(self, obj: FactSettings) -> str:
        return obj.microdao_id or "global default"

    @admin.display(description="extraction now")
    def effective(self, obj: FactSettings) -> str:
        if obj.microdao_id is None:
            config = facts_config_default()
        else:
            config = facts_config_get(microdao_id=obj.microdao_id)
        return f"on via {config.route}" if config.enabled else f"off: {config.reason}"


@admin.register(FactAudit)
class FactAuditAdmin(ReadOnlyModelAdmin):
    list_display = (
        "created_at",
        "action",
        "microdao_id",
        "agent_id",
        "memory_id",
        "fact_id",
        "actor",
    )
    list_filter = ("action",)
    readonly_fields = [f.name for f in FactAudit._meta.fields]
