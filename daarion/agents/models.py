"""The shared registry: microDAOs, their agents, and the credentials internal callers use."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from daarion.agents.validators import validate_agent_id, validate_microdao_id, validate_rate


class MicroDAO(models.Model):
    id = models.CharField(primary_key=True, max_length=64, validators=[validate_microdao_id])
    name = models.CharField(max_length=200)
    monthly_budget_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="LLM spend allowed per calendar month (UTC). Empty = no limit.",
    )
    shares_memory = models.BooleanField(
        default=False,
        help_text="When on, every agent of this microDAO may recall the others' memories.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "microDAO"
        verbose_name_plural = "microDAOs"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Agent(models.Model):
    id = models.CharField(primary_key=True, max_length=64, validators=[validate_agent_id])
    microdao = models.ForeignKey(MicroDAO, on_delete=models.PROTECT, related_name="agents")
    display_name = models.CharField(max_length=200)
    system_prompt = models.TextField(blank=True)
    default_model = models.CharField(
        max_length=128, default="sofia-default", help_text="Logical model name (an LLM route)."
    )
    rate_limit = models.CharField(
        max_length=32,
        default="60/m",
        validators=[validate_rate],
        help_text="LLM requests allowed per period, e.g. '10/m', '1000/h', '100/5m'.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.id})"


class Scope(models.TextChoices):
    LLM = "llm", "LLM gateway"
    MEMORY = "memory", "Memory"
    TOOLS = "tools", "Tools"
    AGENTS = "agents", "Agent turns"


class ServiceToken(models.Model):
    """A named credential for an internal caller. Only a SHA-256 hash of the token is stored."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(
        max_length=16, editable=False, help_text="First characters, to tell tokens apart."
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = ArrayField(models.CharField(max_length=16, choices=Scope.choices), default=list)
    agent = models.ForeignKey(
        Agent,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="service_tokens",
        help_text="If set, the caller can act only as this agent.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
