"""The operator overview: one admin page answering "is everything fine, and what does it cost?".

Spend against each microDAO's monthly budget, requests/errors/latency over time, provider health
from live state (this process's circuit breaker, last success and last error from the attempts
on usage rows), the busiest agents and models, and memory work waiting (pending embeddings,
reindex jobs). Every number links to the admin list filtered to the rows behind it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import escape
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from daarion.agents.models import MicroDAO
from llm.breaker import breaker
from llm.budget import month_start
from llm.health import provider_states
from llm.models import Provider
from llm.selectors import (
    microdao_spend_by_month,
    provider_activity,
    usage_series,
    usage_top,
)
from memory.selectors import memory_backlog

WINDOWS = {"24h": ("hour", dt.timedelta(hours=24)), "7d": ("day", dt.timedelta(days=7))}
WINDOWS["30d"] = ("day", dt.timedelta(days=30))


def _changelist(name: str, /, **filters) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def _budgets(now: dt.datetime) -> list[dict]:
    start = month_start()
    spend = microdao_spend_by_month(month_start=start)
    month = {"created_at__year": now.year, "created_at__month": now.month}
    rows = []
    for microdao in MicroDAO.objects.order_by("id"):
        spent = spend.get(microdao.id, Decimal(0))
        budget = microdao.monthly_budget_usd
        share = float(spent / budget) if budget else None
        rows.append(
            {
                "id": microdao.id,
                "name": microdao.name,
                "spent": spent,
                "budget": budget,
                "share_pct": round(share * 100, 1) if share is not None else None,
                "bar_pct": min(100.0, round(share * 100, 1)) if share is not None else 0,
                "state": "over"
                if share and share >= 1
                else "warn"
                if share and share >= 0.8
                else "ok",
                "usage_url": _changelist("llm_usagelog", microdao_id=microdao.id, **month),
                "edit_url": reverse("admin:agents_microdao_change", args=[microdao.id]),
            }
        )
    return rows


def _providers(since: dt.datetime) -> list[dict]:
    live = provider_states()  # enabled providers: breaker state, else the stored test result
    circuits = breaker.snapshot()
    rows = []
    for provider in Provider.objects.order_by("name"):
        state = live.get(provider.name, {})
        activity = provider_activity(provider=provider.name, since=since)
        health = state.get("state") if provider.enabled else "disabled"
        if health in (None, "unknown") and activity["last_ok_at"]:
            newer_error = activity["last_error"] and (
                activity["last_error"]["at"] > activity["last_ok_at"]
            )
            health = "failing" if newer_error else "ok"
        rows.append(
            {
                "name": provider.name,
                "kind": provider.get_kind_display(),
                "health": health or "unknown",
                "circuit": circuits.get(provider.name, {}).get("state", "closed"),
                "last_ok_at": activity["last_ok_at"],
                "last_error": activity["last_error"],
                "usage_url": _changelist("llm_usagelog", provider=provider.name),
                "edit_url": reverse("admin:llm_provider_change", args=[provider.pk]),
            }
        )
    return rows


def series_svg(series: list[dict], *, width: int = 900, height: int = 240) -> str:
    """Requests (bars, errors in red on top) and p95 latency (line, right axis) over time."""
    if not series:
        return '<svg class="overview-chart" width="0" height="0" role="img"></svg>'
    pad_l, pad_r, pad_t, pad_b = 48, 60, 16, 40
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    top_req = max(max(p["requests"] for p in series), 1)
    top_lat = max(max(p["latency_p95_ms"] for p in series), 1.0)
    step = plot_w / len(series)
    bar_w = max(1.5, step * 0.7)
    base = pad_t + plot_h
    parts = [
        f'<svg class="overview-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="requests, errors and p95 latency over time">',
        f'<line x1="{pad_l}" y1="{base}" x2="{pad_l + plot_w}" y2="{base}" stroke="#888"/>',
        f'<text x="4" y="{pad_t + 10}" font-size="11" fill="#417690">{top_req} req</text>',
        f'<text x="{pad_l + plot_w + 4}" y="{pad_t + 10}" font-size="11" fill="#e65100">'
        f"{top_lat:.0f} ms</text>",
    ]
    points = []
    label_every = max(1, len(series) // 8)
    for i, point in enumerate(series):
        x = pad_l + i * step + (step - bar_w) / 2
        at = point["at"]
        label = at.strftime("%H:%M" if len(series) > 8 and step < 40 else "%m-%d %H:%M")
        if all(p["at"].hour == 0 for p in series):
            label = at.strftime("%m-%d")
        req_h = plot_h * point["requests"] / top_req
        err_h = plot_h * point["errors"] / top_req
        title = (
            f"{at:%Y-%m-%d %H:%M} UTC: {point['requests']} requests, {point['errors']} errors, "
            f"p95 {point['latency_p95_ms']} ms"
        )
        parts.append(
            f'<rect class="req" data-value="{point["requests"]}" x="{x:.1f}" '
            f'y="{base - req_h:.1f}" width="{bar_w:.1f}" height="{req_h:.1f}" fill="#79aec8">'
            f"<title>{escape(title)}</title></rect>"
        )
        if point["errors"]:
            parts.append(
                f'<rect class="err" data-value="{point["errors"]}" x="{x:.1f}" '
                f'y="{base - err_h:.1f}" width="{bar_w:.1f}" height="{err_h:.1f}" fill="#c62828"/>'
            )
        if point["requests"]:  # an idle hour has no latency, not a zero one
            y = base - plot_h * point["latency_p95_ms"] / top_lat
            points.append(f"{x + bar_w / 2:.1f},{y:.1f}")
        if i % label_every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{base + 14}" font-size="10" fill="#333">{label}</text>'
            )
    parts.append(
        f'<polyline class="latency" points="{" ".join(points)}" fill="none" '
        'stroke="#e65100" stroke-width="1.5"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def overview_view(request: HttpRequest, *, admin_site) -> HttpResponse:
    now = timezone.now()
    window = request.GET.get("window", "24h")
    if window not in WINDOWS:
        window = "24h"
    bucket, span = WINDOWS[window]
    since = now - span
    series = usage_series(since=since, bucket=bucket)
    usage_since = {"created_at__gte": since.isoformat(timespec="seconds")}
    top_agents = usage_top(since=since, field="agent_id")
    top_models = usage_top(since=since, field="model")
    for row in top_agents:
        row["url"] = _changelist("llm_usagelog", agent_id=row["name"], **usage_since)
    for row in top_models:
        row["url"] = _changelist("llm_usagelog", model=row["name"], **usage_since)
    backlog = memory_backlog()
    context = {
        **admin_site.each_context(request),
        "title": "Operator overview",
        "window": window,
        "windows": list(WINDOWS),
        "budgets": _budgets(now),
        "providers": _providers(since=now - dt.timedelta(days=7)),
        "chart": series_svg(series),
        "totals": {
            "requests": sum(p["requests"] for p in series),
            "errors": sum(p["errors"] for p in series),
        },
        "errors_url": _changelist("llm_usagelog", status__exact="error", **usage_since),
        "requests_url": _changelist("llm_usagelog", **usage_since),
        "report_url": reverse("admin:llm_usagelog_report"),
        "top_agents": top_agents,
        "top_models": top_models,
        "backlog": backlog,
        "pending_url": _changelist("memory_memory", embedding_pending__exact=1),
        "failed_jobs_url": _changelist("memory_reindexjob") + "?failed__gt=0",
        "running_jobs_url": _changelist("memory_reindexjob", status__exact="running"),
    }
    return TemplateResponse(request, "admin/overview.html", context)
