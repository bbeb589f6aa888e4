"""Charts of the report as PNG images (matplotlib, Agg backend: no display, thread-safe Figure API).

Each chart is attached inline to the e-mail and referenced from the HTML by its Content-ID. Legends and axis
titles are the metric catalogue's labels (featurepulse/domain/metrics.py). A chart whose values are all zero
is left out (a blank chart says nothing).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

from featurepulse.domain.metrics import metric
from featurepulse.reporting.report import ReportData

_BLUE, _GREEN, _GREY, _ORANGE = "#2563eb", "#16a34a", "#9ca3af", "#ea580c"
_DPI = 110


@dataclass(frozen=True)
class Chart:
    cid: str  # Content-ID without angle brackets; the HTML uses src="cid:<cid>"
    filename: str
    alt: str
    png: bytes


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _figure(height: float = 2.6) -> tuple[Figure, Any]:
    fig = Figure(figsize=(6.0, height))
    ax = fig.subplots()
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)
    return fig, ax


def funnel_chart(rows: Sequence[dict[str, Any]]) -> bytes:
    fig, ax = _figure(0.8 + 0.7 * max(len(rows), 1))
    features = [str(r["feature"]) for r in rows]
    steps = (
        ("funnel_viewed", _GREY, "viewed"),
        ("funnel_used", _BLUE, "used"),
        ("funnel_completed", _GREEN, "completed"),
    )
    height = 0.25
    for offset, (column, colour, label) in enumerate(steps):
        positions = [i + (1 - offset) * height for i in range(len(rows))]
        ax.barh(positions, [int(r[column] or 0) for r in rows], height=height, color=colour, label=label)
    ax.set_yticks(range(len(rows)), features)
    ax.invert_yaxis()
    ax.set_xlabel("persons", fontsize=8)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return _png(fig)


def active_users_chart(rows: Sequence[dict[str, Any]]) -> bytes:
    fig, ax = _figure()
    days = [r["day"].strftime("%a %d") for r in rows]
    ax.bar(days, [int(r["dau"] or 0) for r in rows], color=_BLUE, label=metric("dau").label)
    ax.plot(days, [int(r["wau"] or 0) for r in rows], color=_ORANGE, marker="o", label=metric("wau").label)
    ax.set_ylabel("persons", fontsize=8)
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def time_on_feature_chart(rows: Sequence[dict[str, Any]]) -> bytes:
    fig, ax = _figure()
    features = sorted({str(r["feature"]) for r in rows})
    buckets = [str(r["bucket"]) for r in rows if r["feature"] == features[0]]
    width = 0.8 / max(len(features), 1)
    colours = (_BLUE, _GREEN, _ORANGE, _GREY)
    for i, feature in enumerate(features):
        shares = [float(r["share_of_timed_events"] or 0) * 100 for r in rows if r["feature"] == feature]
        ax.bar([b + i * width for b in range(len(buckets))], shares, width=width, label=feature, color=colours[i % 4])
    ax.set_xticks([b + 0.4 - width / 2 for b in range(len(buckets))], buckets)
    ax.set_ylabel(f"{metric('share_of_timed_events').label}, %", fontsize=8)
    ax.legend(fontsize=8, frameon=False)
    return _png(fig)


def campaigns_chart(rows: Sequence[dict[str, Any]]) -> bytes:
    top = list(rows)[:8]
    fig, ax = _figure(0.8 + 0.4 * max(len(top), 1))
    labels = [f"{r['campaign_source']} / {r['campaign_medium']}" for r in top]
    ax.barh(labels, [float(r["campaign_conversion_rate"] or 0) * 100 for r in top], color=_GREEN)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric('campaign_conversion_rate').label}, %", fontsize=8)
    return _png(fig)


# (chart id, query whose rows it draws, the columns it plots, title, renderer), in the order the e-mail shows them.
_CHARTS: tuple[tuple[str, str, tuple[str, ...], str, Callable[[Sequence[dict[str, Any]]], bytes]], ...] = (
    ("active-users", "active_users_daily", ("dau", "wau"), "Daily and weekly active persons", active_users_chart),
    ("funnel", "feature_funnel", ("funnel_viewed",), "Funnel: viewed, used, completed", funnel_chart),
    (
        "campaigns",
        "campaign_attribution",
        ("campaign_conversion_rate",),
        "Campaign conversion rate by campaign source",
        campaigns_chart,
    ),
    (
        "time-on-feature",
        "time_on_feature_distribution",
        ("share_of_timed_events",),
        "Time on feature",
        time_on_feature_chart,
    ),
)


def _has_values(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> bool:
    return any(row.get(column) for row in rows for column in columns)


def render_charts(data: ReportData) -> list[Chart]:
    """The charts that have data for this period (a daily trend only when the period has several days); a
    chart whose plotted values are all zero or missing is left out."""
    key = data.period.key
    charts: list[Chart] = []
    for chart_id, query, columns, title, render in _CHARTS:
        if chart_id == "active-users" and data.period.days <= 1:
            continue
        rows = data.rows(query)
        if not _has_values(rows, columns):
            continue
        charts.append(Chart(chart_id, f"{key}-{chart_id}.png", title, render(rows)))
    return charts
