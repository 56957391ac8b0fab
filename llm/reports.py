"""Rendering usage reports: CSV, a plain-text table, and an inline SVG bar chart (no JS, no CDN)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from html import escape

from llm.selectors import REPORT_COLUMNS


def report_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def report_table(rows: list[dict]) -> str:
    header = list(REPORT_COLUMNS)
    cells = [[str(row[c]) for c in header] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(lines) + "\n"


def report_svg(rows: list[dict], *, metric: str = "cost_usd", width: int = 760) -> str:
    """A horizontal-free, vertical bar chart of `metric` per group, as inline SVG markup.

    Each bar is a <rect class="bar" data-group=… data-value=…> so it can be checked in a browser.
    """
    if not rows:
        return '<svg class="usage-chart" width="0" height="0" role="img"></svg>'
    values = [float(r[metric] or 0) for r in rows]
    top = max(values) or 1.0
    height, pad_left, pad_bottom, pad_top = 260, 70, 70, 20
    plot_w, plot_h = width - pad_left - 10, height - pad_bottom - pad_top
    step = plot_w / len(rows)
    bar_w = max(2.0, step * 0.7)
    parts = [
        f'<svg class="usage-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(metric)} by group">',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 10}" '
        f'y2="{pad_top + plot_h}" stroke="#888"/>',
        f'<text x="4" y="{pad_top + 10}" font-size="11" fill="#444">{_fmt(top)}</text>',
        f'<text x="4" y="{pad_top + plot_h}" font-size="11" fill="#444">0</text>',
    ]
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        bar_h = 0 if top == 0 else plot_h * value / top
        x = pad_left + i * step + (step - bar_w) / 2
        y = pad_top + plot_h - bar_h
        group = escape(str(row["group"]))
        parts.append(
            f'<rect class="bar" data-group="{group}" data-value="{value}" x="{x:.1f}" '
            f'y="{y:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" fill="#417690">'
            f"<title>{group}: {_fmt(value)}</title></rect>"
        )
        label = group if len(group) <= 14 else group[:13] + "…"
        lx, ly = x + bar_w / 2, pad_top + plot_h + 12
        parts.append(
            f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="10" fill="#333" '
            f'transform="rotate(35 {lx:.1f} {ly:.1f})">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float | Decimal) -> str:
    value = float(value)
    return f"{value:.6f}".rstrip("0").rstrip(".") if value < 1 else f"{value:,.2f}"
