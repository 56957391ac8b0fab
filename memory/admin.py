"""Admin: a memory browser whose search box runs the API's hybrid retrieval, documents with
upload, chunks, the embedding model choice, and reindex jobs (read-only)."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Case, CharField, FloatField, IntegerField, Value, When
from django.http import HttpRequest
from django.utils.html import format_html

from daarion.agents.models import MicroDAO
from daarion.common.errors import ApiError
from memory import knowledge, selectors, services
from memory.embeddings import embedding_model_names
from memory.facts.admin import DerivedFactInline
from memory.models import Chunk, Document, EmbeddingSpace, Memory, MemorySettings, ReindexJob
from memory.types import TenantScope

MICRODAO_PARAM = "microdao__id__exact"
AGENT_PARAM = "agent__id__exact"


def _preview(text: str, size: int = 120) -> str:
    text = " ".join(text.split())
    return text[:size] + ("…" if len(text) > size else "")


def _explain(item) -> str:
    """The score breakdown of a retrieved item, in one line for the changelist."""
    parts = item.score_breakdown or {}

    def side(name: str) -> str:
        rank, score = parts.get(f"{name}_rank"), parts.get(f"{name}_score")
        if rank is None:
            return f"{name} —"
        return f"{name} #{rank} ({score:.3f}) * {parts.get(f'{name}_weight', 0):g}"

    return f"{item.score:.3f} = {side('vector')} + {side('text')}"


class DeleteThroughServicesMixin:
    def delete_model(self, request: HttpRequest, obj) -> None:
        services.memories_delete(memory_ids=[obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        services.memories_delete(memory_ids=list(queryset.values_list("pk", flat=True)))


class AlwaysShownRelatedFilter(admin.RelatedFieldListFilter):
    """Django hides a related filter with a single choice; the memory browser's search needs the
    microDAO chosen there, so it is always shown."""

    def has_output(self) -> bool:
        return True


def _only_microdao_id() -> str | None:
    ids = list(MicroDAO.objects.values_list("pk", flat=True)[:2])
    return ids[0] if len(ids) == 1 else None


@admin.register(Memory)
class MemoryAdmin(DeleteThroughServicesMixin, admin.ModelAdmin):
    # The text first and wide; the microDAO is the (always shown) filter.
    list_display = (
        "id",
        "preview",
        "score",
        "tier",
        "kind",
        "agent",
        "embedding_pending",
        "created_at",
        "retrieval",
    )
    list_filter = (
        ("microdao", AlwaysShownRelatedFilter),
        ("agent", AlwaysShownRelatedFilter),
        "tier",
        "kind",
        "embedding_pending",
        "facts_state",
    )
    list_select_related = ("microdao", "agent")
    date_hierarchy = "created_at"
    # The search box runs hybrid retrieval (see get_search_results), not LIKE on these fields.
    search_fields = ("text",)
    search_help_text = (
        "Hybrid retrieval (vector + full text) inside the microDAO chosen in the filter, and "
        "the agent if one is chosen — the same search the API runs."
    )
    readonly_fields = (
        "microdao",
        "agent",
        "channel_id",
        "tier",
        "kind",
        "text",
        "content",
        "metadata",
        "document",
        "chunk_index",
        "idempotency_key",
        "embedding_pending",
        "embedding_models",
        "facts_state",
        "created_at",
    )
    exclude = ("search_vector",)
    show_full_result_count = False
    inlines = [DerivedFactInline]  # memory/facts/admin.py

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # memories come from agents (API) and documents

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="text")
    def preview(self, obj: Memory) -> str:
        return format_html('<div class="memory-text">{}</div>', _preview(obj.text, 400))

    @admin.display(description="score")
    def score(self, obj: Memory) -> str:
        # Set on search results only: the fused retrieval score (vector + full text, 0..1).
        value = getattr(obj, "memory_score", None)
        return "—" if value is None else f"{value:.3f}"

    class Media:
        css = {"all": ["memory/admin.css"]}

    @admin.display(description="retrieval score")
    def retrieval(self, obj: Memory) -> str:
        # Set by get_search_results: the fused score and what it is made of.
        return getattr(obj, "retrieval_breakdown", None) or "—"

    @admin.display(description="embedded with")
    def embedding_models(self, obj: Memory) -> str:
        return ", ".join(obj.embeddings.values_list("model", flat=True)) or "—"

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        search_term = search_term.strip()
        if not search_term:
            return queryset, False
        microdao_id = request.GET.get(MICRODAO_PARAM) or _only_microdao_id()
        if not microdao_id:
            messages.warning(request, "Choose a microDAO in the filter to search its memories.")
            return queryset.none(), False
        agent_id = request.GET.get(AGENT_PARAM) or ""
        scope = TenantScope(microdao_id=microdao_id, agent_id=agent_id, shares_memory=not agent_id)
        try:
            items = selectors.memory_admin_search(scope=scope, query=search_term)
        except ApiError as exc:
            messages.error(request, exc.message)
            return queryset.none(), False
        ids = [int(item.id) for item in items]
        ranking = Case(
            *[When(pk=pk, then=Value(rank)) for rank, pk in enumerate(ids)],
            default=Value(len(ids)),
            output_field=IntegerField(),
        )
        scores = Case(
            *[When(pk=int(item.id), then=Value(float(item.score))) for item in items],
            default=None,
            output_field=FloatField(),
        )
        explained = Case(
            *[When(pk=int(item.id), then=Value(_explain(item))) for item in items],
            default=Value(""),
            output_field=CharField(),
        )
        results = queryset.filter(pk__in=ids).annotate(
            memory_rank=ranking, memory_score=scores, retrieval_breakdown=explained
        )
        if "o" not in request.GET:  # keep the retrieval order unless a column was sorted
            results = results.order_by("memory_rank", "-pk")
        return results, False


@admin.register(Chunk)
class ChunkAdmin(DeleteThroughServicesMixin, admin.ModelAdmin):
    list_display = ("id", "document", "chunk_index", "preview", "embedding_pending")
    list_filter = ("microdao", "embedding_pending")
    list_select_related = ("document",)
    search_fields = ("text", "document__title")
    readonly_fields = ("document", "chunk_index", "text", "metadata", "embedding_pending")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="text")
    def preview(self, obj: Chunk) -> str:
        return _preview(obj.text)


class DocumentUploadForm(forms.ModelForm):
    upload = forms.FileField(
        required=False, help_text="A Markdown or text file (UTF-8); replaces the text below."
    )
    text = forms.CharField(widget=forms.Textarea, required=False)

    class Meta:
        model = Document
        fields = ("microdao", "agent", "title")

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload is not None:
            if not upload.name.lower().endswith(knowledge.KB_SUFFIXES):
                raise forms.ValidationError("Upload a .md, .markdown or .txt file.")
            try:
                cleaned["text"] = upload.read().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise forms.ValidationError("The file is not UTF-8 text.") from exc
        text = cleaned.get("text") or ""
        if not text.strip():
            raise forms.ValidationError("Upload a file or paste the text.")
        if len(text) > settings.MEMORY_MAX_DOCUMENT_CHARS:
            raise forms.ValidationError(
                f"The document has {len(text)} characters; at most "
                f"{settings.MEMORY_MAX_DOCUMENT_CHARS} are allowed."
            )
        agent = cleaned.get("agent")
        if (
            agent is not None
            and cleaned.get("microdao")
            and agent.microdao_id != cleaned["microdao"].pk
        ):
            raise forms.ValidationError("The agent belongs to another microDAO.")
        return cleaned


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "microdao",
        "agent",
        "source",
        "size_chars",
        "chunk_count",
        "updated_at",
    )
    list_filter = ("microdao",)
    search_fields = ("title", "source")
    readonly_fields = ("source", "checksum", "size_chars", "created_at", "updated_at")

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = DocumentUploadForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ("microdao", "agent", "title", "upload", "text")
        return ("microdao", "agent", "title", *self.readonly_fields)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        if obj is None:
            return ()
        return ("microdao", "agent", *self.readonly_fields)

    @admin.display(description="chunks")
    def chunk_count(self, obj: Document) -> int:
        return obj.chunks.count()

    def save_model(self, request: HttpRequest, obj: Document, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["title", "updated_at"])
            return
        upload = form.cleaned_data.get("upload")
        source = f"upload:{upload.name}" if upload else f"admin:{obj.title}"
        result = async_to_sync(knowledge.document_ingest)(
            microdao_id=obj.microdao_id,
            agent_id=obj.agent_id,
            title=obj.title,
            text=form.cleaned_data["text"],
            source=source,
        )
        obj.pk = result.document_id
        obj.refresh_from_db()
        note = (
            f" ({result.pending_embedding} waiting for an embedding)"
            if result.pending_embedding
            else ""
        )
        messages.info(request, f"{result.chunks} chunks indexed{note}.")

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        knowledge.document_delete(document_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for document_id in queryset.values_list("pk", flat=True):
            knowledge.document_delete(document_id=document_id)


class MemorySettingsForm(forms.ModelForm):
    embedding_model = forms.ChoiceField(required=False)

    class Meta:
        model = MemorySettings
        fields = ("microdao", "embedding_model", "vector_weight", "text_weight")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = embedding_model_names()
        current = self.instance.embedding_model if self.instance.pk else ""
        if current and current not in names:
            names.append(current)
        self.fields["embedding_model"].choices = [("", "— global default —")] + [
            (name, name) for name in names
        ]
        self.fields["embedding_model"].help_text = (
            "An embedding route of the LLM gateway. After a change, run "
            "`manage.py reindex_memories`: queries keep the current model until the new "
            "vectors are complete."
        )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("microdao") is None and not cleaned.get("embedding_model"):
            raise forms.ValidationError("The global row needs an embedding model.")
        return cleaned


@admin.register(MemorySettings)
class MemorySettingsAdmin(admin.ModelAdmin):
    form = MemorySettingsForm
    list_display = (
        "scope",
        "embedding_model",
        "serving_model",
        "vector_weight",
        "text_weight",
        "updated_at",
    )
    readonly_fields = ("serving_model", "updated_at")

    @admin.display(description="scope")
    def scope(self, obj: MemorySettings) -> str:
        return obj.microdao_id or "global default"

    def save_model(self, request: HttpRequest, obj: MemorySettings, form, change: bool) -> None:
        row = services.memory_settings_set(
            microdao_id=obj.microdao_id,
            embedding_model=obj.embedding_model,
            vector_weight=obj.vector_weight,
            text_weight=obj.text_weight,
        )
        obj.pk = row.pk
        obj.refresh_from_db()


@admin.register(EmbeddingSpace)
class EmbeddingSpaceAdmin(admin.ModelAdmin):
    list_display = ("model", "dimensions", "index_name", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ReindexJob)
class ReindexJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "microdao",
        "agent",
        "pending_only",
        "target_model",
        "embedded",
        "failed",
        "started_at",
        "finished_at",
    )
    list_filter = ("status",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
