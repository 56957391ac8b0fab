"""Facts derived from memories: versioned (never overwritten), traceable, correctable.

A Fact is one atomic, self-contained statement about a subject. A newer fact on the same
subject does not overwrite an older one: it closes the older one's validity (`valid_until`,
`superseded_by`), so "what did we believe on date D?" stays answerable. Every fact links to the
memories it was extracted from (FactSource); forgetting a memory deletes the facts only it
supported (memory/facts/services.py). Vectors live beside the fact per embedding model, like
MemoryEmbedding, and are searched exactly (a tenant's facts are few).
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from pgvector.django import VectorField

from daarion.agents.models import Agent, MicroDAO
from memory.models import TEXT_SEARCH_CONFIG, Memory


class FactStatus(models.TextChoices):
    CURRENT = "current", "current"
    SUPERSEDED = "superseded", "superseded by a newer fact"
    INCORRECT = "incorrect", "marked incorrect (kept for audit, never retrieved)"


class FactOrigin(models.TextChoices):
    EXTRACTED = "extracted", "extracted by the model"
    EDITED = "edited", "edited by an operator or the API"


class Fact(models.Model):
    id = models.BigAutoField(primary_key=True)
    microdao = models.ForeignKey(MicroDAO, on_delete=models.CASCADE, related_name="facts")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="facts")
    subject = models.CharField(max_length=200)
    text = models.TextField()
    text_hash = models.CharField(max_length=64, help_text="SHA-256 of the normalized text.")
    status = models.CharField(max_length=16, choices=FactStatus.choices, default=FactStatus.CURRENT)
    origin = models.CharField(
        max_length=16, choices=FactOrigin.choices, default=FactOrigin.EXTRACTED
    )
    valid_from = models.DateTimeField(help_text="When the source first said it.")
    valid_until = models.DateTimeField(
        null=True, blank=True, help_text="When a newer fact replaced it (empty: still valid)."
    )
    superseded_by = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="supersedes",
    )
    search_vector = models.GeneratedField(
        expression=SearchVector("subject", "text", config=TEXT_SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-valid_from", "-id"]
        indexes = [
            GinIndex(fields=["search_vector"], name="fact_fts_gin"),
            models.Index(fields=["microdao", "agent", "status"], name="fact_tenant"),
        ]
        constraints = [
            # Deterministic dedupe: one current fact per normalized text in an agent's memory
            # (also what makes two workers extracting the same fact at once safe).
            models.UniqueConstraint(
                fields=["microdao", "agent", "text_hash"],
                condition=Q(status="current"),
                name="fact_current_text_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}: {self.text[:60]}"


class FactSource(models.Model):
    """A memory a fact was extracted from (a restated fact gains sources, not copies)."""

    fact = models.ForeignKey(Fact, on_delete=models.CASCADE, related_name="sources")
    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="fact_sources")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fact", "memory"], name="fact_source_unique")
        ]

    def __str__(self) -> str:
        return f"fact #{self.fact_id} ← memory #{self.memory_id}"


class FactEmbedding(models.Model):
    fact = models.ForeignKey(Fact, on_delete=models.CASCADE, related_name="embeddings")
    model = models.CharField(max_length=128)
    embedding = VectorField()  # untyped, like MemoryEmbedding: dimensions come from the model

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fact", "model"], name="fact_embedding_unique")
        ]

    def __str__(self) -> str:
        return f"fact #{self.fact_id} · {self.model}"


class FactSettings(models.Model):
    """Extraction on/off and its gateway route: one global row plus optional per-microDAO rows."""

    microdao = models.OneToOneField(
        MicroDAO,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="fact_settings",
        help_text="Empty = the global default.",
    )
    enabled = models.BooleanField(default=True)
    route = models.CharField(
        max_length=128,
        blank=True,
        help_text="A chat route of the LLM gateway (empty = global, then MEMORY_FACTS_ROUTE).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "fact extraction settings"
        verbose_name_plural = "fact extraction settings"
        constraints = [
            models.UniqueConstraint(
                fields=["microdao"], name="fact_settings_one_per_scope", nulls_distinct=False
            )
        ]

    def __str__(self) -> str:
        return f"{self.microdao_id or 'global default'}: {self.route or 'default route'}"


class ExtractionStatus(models.TextChoices):
    RUNNING = "running"
    RETRYING = "retrying", "failed, retry scheduled"
    DONE = "done"
    FAILED = "failed", "failed, no retries left"
    SKIPPED = "skipped", "skipped (extraction off)"


class FactExtraction(models.Model):
    """Progress of one memory's extraction job (the queue's own rows show each attempt)."""

    memory = models.OneToOneField(Memory, on_delete=models.CASCADE, related_name="fact_extraction")
    status = models.CharField(max_length=16, choices=ExtractionStatus.choices)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    added = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    superseded = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"memory #{self.memory_id}: {self.status}"


class FactAudit(models.Model):
    """Forget / mark incorrect / edit, kept after the rows they name are gone (no foreign keys)."""

    class Action(models.TextChoices):
        FORGET = "forget"
        INCORRECT = "incorrect"
        EDIT = "edit"

    action = models.CharField(max_length=16, choices=Action.choices)
    microdao_id = models.CharField(max_length=64)
    agent_id = models.CharField(max_length=64, blank=True)
    memory_id = models.BigIntegerField(null=True, blank=True)
    fact_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, help_text="api:<agent>, admin:<user> or a command.")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.memory_id or self.fact_id} by {self.actor}"
