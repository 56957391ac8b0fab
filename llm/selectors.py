"""Reads for reports and commands: usage aggregated by agent, microDAO, model, provider or day."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.db.models import Aggregate, Count, F, FloatField, Q, Sum
from django.db.models.functions import TruncDate, TruncDay, TruncHour
from django.utils import timezone

from llm.models import UsageLog, UsageStatus

GROUPS = {
    "agent": F("agent_id"),
    "microdao": F("microdao_id"),
    "model": F("model"),
    "provider": F("provider"),
    "day": TruncDate("created_at"),
}
REPORT_COLUMNS = (
    "group",
    "requests",
    "errors",
    "error_rate",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "latency_p50_ms",
    "latency_p95_ms",
)
_SINCE_RE = re.compile(r"^(?P<n>\d+)(?P<unit>[hdw])$")


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont(p) WITHIN GROUP (ORDER BY expr)."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra):
        super().__init__(expression, percentile=float(percentile), **extra)


def parse_since(value: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """'24h', '7d', '2w' (relative) or an ISO date/datetime (UTC when naive)."""
    now = now or timezone.now()
    value = value.strip()
    match = _SINCE_RE.match(value)
    if match:
        n, unit = int(match["n"]), match["unit"]
        delta = {"h": dt.timedelta(hours=n), "d": dt.timedelta(days=n), "w": dt.timedelta(weeks=n)}
        return now - delta[unit]
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"--since must look like 24h, 7d, 2w or an ISO date (2026-01-31), got {value!r}"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def usage_report(
    *, group_by: str, since: dt.datetime, until: dt.datetime | None = None
) -> list[dict]:
    """One dict per group (REPORT_COLUMNS), biggest cost first (by date for `day`)."""
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    rows = UsageLog.objects.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    aggregated = (
        rows.annotate(group=GROUPS[group_by])
        .values("group")
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status=UsageStatus.ERROR)),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            total_tokens=Sum("total_tokens"),
            cost_usd=Sum("cost_usd"),
            latency_p50_ms=Percentile("latency_ms", 0.5),
            latency_p95_ms=Percentile("latency_ms", 0.95),
        )
    )
    ordering = ["group"] if group_by == "day" else ["-cost_usd", "-requests", "group"]
    result = []
    for row in aggregated.order_by(*ordering):
        row["group"] = str(row["group"]) if row["group"] not in ("", None) else "(none)"
        row["error_rate"] = round(row["errors"] / row["requests"], 4) if row["requests"] else 0.0  # type: ignore[misc]
        row["cost_usd"] = row["cost_usd"] or Decimal(0)
        row["latency_p50_ms"] = round(row["latency_p50_ms"] or 0.0, 2)
        row["latency_p95_ms"] = round(row["latency_p95_ms"] or 0.0, 2)
        result.append({column: row[column] for column in REPORT_COLUMNS})  # type: ignore[literal-required]
    return result


def usage_report_totals(rows: list[dict]) -> dict:
    requests = sum(r["requests"] for r in rows)
    errors = sum(r["errors"] for r in rows)
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": round(errors / requests, 4) if requests else 0.0,
        "total_tokens": sum(r["total_tokens"] or 0 for r in rows),
        "cost_usd": sum((r["cost_usd"] for r in rows), Decimal(0)),
    }


# --- the operator overview (daarion's admin overview page) -------------------------------------
BUCKETS = {"hour": TruncHour, "day": TruncDay}


def usage_series(*, since: dt.datetime, bucket: str = "hour") -> list[dict]:
    """Requests, errors and p95 latency per hour or day since `since`, oldest first; empty
    buckets included so a chart's x axis is time."""
    trunc = BUCKETS[bucket]
    step = dt.timedelta(hours=1) if bucket == "hour" else dt.timedelta(days=1)
    found: dict[dt.datetime, dict] = {
        row["at"]: dict(row)
        for row in UsageLog.objects.filter(created_at__gte=since)
        .annotate(at=trunc("created_at", tzinfo=dt.UTC))
        .values("at")
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status=UsageStatus.ERROR)),
            latency_p95_ms=Percentile("latency_ms", 0.95),
        )
    }
    start = since.astimezone(dt.UTC)
    start = start.replace(minute=0, second=0, microsecond=0)
    if bucket == "day":
        start = start.replace(hour=0)
    series: list[dict] = []
    at, now = start, timezone.now()
    while at <= now:
        row = found.get(at) or {}
        series.append(
            {
                "at": at,
                "requests": row.get("requests", 0),
                "errors": row.get("errors", 0),
                "latency_p95_ms": round(row.get("latency_p95_ms") or 0.0, 1),
            }
        )
        at += step
    return series


def usage_top(*, since: dt.datetime, field: str, limit: int = 5) -> list[dict]:
    """The busiest values of `field` (agent_id or model) since `since`, by requests."""
    if field not in ("agent_id", "model"):
        raise ValueError("field must be agent_id or model")
    rows = (
        UsageLog.objects.filter(created_at__gte=since)
        .exclude(**{field: ""})
        .values(field)
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status=UsageStatus.ERROR)),
            cost_usd=Sum("cost_usd"),
        )
        .order_by("-requests", field)[:limit]
    )
    return [{**row, "name": row[field], "cost_usd": row["cost_usd"] or Decimal(0)} for row in rows]


def microdao_spend_by_month(*, month_start: dt.datetime) -> dict[str, Decimal]:
    rows = (
        UsageLog.objects.filter(created_at__gte=month_start)
        .exclude(microdao_id="")
        .values("microdao_id")
        .annotate(total=Sum("cost_usd"))
    )
    return {row["microdao_id"]: row["total"] or Decimal(0) for row in rows}


def provider_activity(*, provider: str, since: dt.datetime) -> dict:
    """When `provider` last answered and last failed (with why), from the attempts recorded on
    usage rows — so a fallback provider that fails before another answers shows up too."""
    recent = UsageLog.objects.filter(
        created_at__gte=since, attempts__contains=[{"provider": provider}]
    ).order_by("-created_at")
    last_ok = (
        recent.filter(attempts__contains=[{"provider": provider, "outcome": "ok"}])
        .values_list("created_at", flat=True)
        .first()
    )
    last_error = None
    for created_at, attempts in recent.filter(
        Q(status=UsageStatus.ERROR) | Q(fallback_used=True) | Q(attempt_count__gt=1)
    ).values_list("created_at", "attempts")[:20]:
        failed = [
            a
            for a in attempts or []
            if a.get("provider") == provider and a.get("outcome") not in ("ok", "skipped")
        ]
        if failed:
            detail = failed[-1].get("detail") or ""
            last_error = {"at": created_at, "outcome": failed[-1]["outcome"], "detail": detail}
            break
    return {"last_ok_at": last_ok, "last_error": last_error}
