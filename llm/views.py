"""GET /metrics: Prometheus text exposition of this process's gateway metrics."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from llm.breaker import breaker
from llm.metrics import metrics_render
from llm.registry import registry_get


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    registry = registry_get()
    provider_up = {
        name: int(info.enabled and breaker.state(name) != "open")
        for name, info in registry.providers.items()
    }
    return HttpResponse(
        metrics_render(provider_up=provider_up),
        content_type="text/plain; version=0.0.4; charset=utf-8",
    )
