"""The gateway's registry (providers, keys, routes, targets) and its usage log."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from daarion.common.crypto import EncryptedTextField


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    DEEPSEEK = "deepseek", "DeepSeek"
    OLLAMA = "ollama", "Ollama (OpenAI-compatible /v1)"
    OPENAI_COMPATIBLE = "openai_compatible", "Other OpenAI-compatible server"
    OFFLINE = "offline", "Offline (deterministic, for development only)"


# Presets used when an operator leaves the base URL empty.
DEFAULT_BASE_URLS = {
    ProviderKind.OPENAI: "https://api.openai.com/v1",
    ProviderKind.DEEPSEEK: "https://api.deepseek.com/v1",
    ProviderKind.OLLAMA: "http://127.0.0.1:11434/v1",
    ProviderKind.OPENAI_COMPATIBLE: "",
    ProviderKind.OFFLINE: "",
}


class HealthState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    OK = "ok", "OK"
    FAILING = "failing", "Failing"


class Provider(models.Model):
    name = models.SlugField(max_length=64, unique=True, help_text="Short name, e.g. 'openai'.")
    kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    base_url = models.URLField(
        max_length=300,
        blank=True,
        help_text="Empty = the preset for the kind (OpenAI, DeepSeek, local Ollama).",
    )
    timeout_seconds = models.FloatField(
        default=60.0, validators=[MinValueValidator(0.1)], help_text="Per attempt."
    )
    enabled = models.BooleanField(default=True)
    health_state = models.CharField(
        max_length=16, choices=HealthState.choices, default=HealthState.UNKNOWN, editable=False
    )
    health_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    health_detail = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or DEFAULT_BASE_URLS.get(ProviderKind(self.kind), "")).rstrip("/")

    def clean(self) -> None:
        if self.kind == ProviderKind.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError({"base_url": "An OpenAI-compatible provider needs a base URL."})


class ProviderKey(models.Model):
    """An API key of a provider, encrypted at rest and never displayed after saving."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="keys")
    label = models.CharField(max_length=100, blank=True, help_text="e.g. 'prod-2026-01'.")
    secret = EncryptedTextField()
    last4 = models.CharField(max_length=8, blank=True, editable=False)
    is_active = models.BooleanField(default=True, help_text="Inactive keys are kept but unused.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["provider", "-created_at"]

    def __str__(self) -> str:
        return f"{self.label or 'key'} (…{self.last4})"

    def save(self, *args, **kwargs) -> None:
        if self.secret:
            self.last4 = self.secret[-4:] if len(self.secret) >= 12 else ""
        super().save(*args, **kwargs)


class RouteKind(models.TextChoices):
    CHAT = "chat", "Chat"
    EMBEDDING = "embedding", "Embedding"


class ModelRoute(models.Model):
    """A logical model name (what clients ask for) routed to physical provider models."""

    name = models.CharField(
        max_length=128, unique=True, help_text="Logical name, e.g. 'gpt-4.1-mini'."
    )
    kind = models.CharField(max_length=16, choices=RouteKind.choices, default=RouteKind.CHAT)
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RouteTarget(models.Model):
    route = models.ForeignKey(ModelRoute, on_delete=models.CASCADE, related_name="targets")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="targets")
    physical_model = models.CharField(max_length=200)
    priority = models.PositiveIntegerField(default=1, help_text="Lower is tried first.")
    weight = models.PositiveIntegerField(
        default=1, help_text="Share of traffic among targets with the same priority."
    )
    input_price_per_1m = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="USD per 1M input tokens."
    )
    output_price_per_1m = models.DecimalField(
        max_digits=12, decimal_places=6, default=0, help_text="USD per 1M output tokens."
    )
    dimensions = models.PositiveIntegerField(
        null=True, blank=True, help_text="Embedding routes: the vector size this model returns."
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["route", "priority", "id"]

    def __str__(self) -> str:
        return f"{self.route_id}: {self.provider_id} {self.physical_model} (p{self.priority})"

    def clean(self) -> None:
        route = getattr(self, "route", None)
        if route is not None and route.kind == RouteKind.EMBEDDING and not self.dimensions:
            raise ValidationError({"dimensions": "Embedding targets need their dimensions."})


class UsageStatus(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"
    ABANDONED = "abandoned", "Abandoned by the client"


class UsageLog(models.Model):
    """One row per gateway request, success or failure (written by llm.usage)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    request_id = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=16, choices=RouteKind.choices, default=RouteKind.CHAT)
    agent_id = models.CharField(max_length=64, blank=True, db_index=True)
    microdao_id = models.CharField(max_length=64, blank=True, db_index=True)
    model = models.CharField(max_length=128, help_text="Logical model requested.")
    provider = models.CharField(max_length=64, blank=True, help_text="Provider that answered.")
    physical_model = models.CharField(max_length=200, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    fallback_used = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.FloatField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    status = models.CharField(max_length=16, choices=UsageStatus.choices)
    error_type = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    stream = models.BooleanField(default=False)
    # Set by the writer: a replayed (spooled or retried) row is inserted at most once.
    row_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["microdao_id", "created_at"])]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model} {self.status}"


class UsageDeadLetter(models.Model):
    """A usage row the database refused even after sanitizing, set aside with the reason so
    that it never blocks the other rows (llm.usage)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    reason = models.TextField()
    payload = models.TextField(help_text="The row as JSON text (escaped; may hold any character).")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.reason[:60]}"
