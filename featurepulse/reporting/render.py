"""The e-mail body: HTML that reads well in mail clients (tables, inline styles, no CSS classes, no
scripts, images by Content-ID) and a plain-text alternative. Every value from the data is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from featurepulse.reporting.charts import Chart
from featurepulse.reporting.experiments import SRM_ALPHA, ExperimentResult, VariantResult
from featurepulse.reporting.report import Kpi, ReportData, retention_by_horizon

_FONT = "font-family:Arial,Helvetica,sans-serif;"
_TD = f"{_FONT}font-size:13px;color:#111827;padding:6px 8px;border-bottom:1px solid #e5e7eb;"
_TH = f"{_FONT}font-size:12px;color:#6b7280;padding:6px 8px;border-bottom:2px solid #d1d5db;text-align:left;"
_H2 = f"{_FONT}font-size:16px;color:#111827;margin:28px 0 8px 0;"
_H1 = f"{_FONT}font-size:20px;color:#111827;margin:0 0 4px 0;"
_NOTE = f"{_FONT}font-size:12px;color:#6b7280;margin:4px 0 0 0;"
_GOOD, _BAD, _FLAT = "#15803d", "#b91c1c", "#6b7280"
_VERDICT_COLOURS = {"better than control": _GOOD, "worse than control": _BAD, "do not trust": _BAD}


def subject(data: ReportData) -> str:
    return f"FeaturePulse report: {data.period.label}"


def fmt_count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def fmt_rate(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"


def fmt_seconds(value: Any) -> str:
    if value is None:
        return "-"
    seconds = float(value)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def fmt_p(value: Any) -> str:
    if value is None:
        return "-"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def fmt_points(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:+.1f} pt"


def kpi_value(kpi: Kpi) -> str:
    return fmt_rate(kpi.value) if kpi.format == "rate" else fmt_count(kpi.value)


def kpi_change(kpi: Kpi) -> tuple[str, str]:
    """The change against the previous period as text and colour."""
    if kpi.change is None:
        return "no previous data", _FLAT
    colour = _GOOD if kpi.change > 0 else _BAD if kpi.change < 0 else _FLAT
    arrow = "&#9650;" if kpi.change > 0 else "&#9660;" if kpi.change < 0 else "&#8226;"
    if kpi.format == "rate":
        return f"{arrow} {fmt_points(kpi.change)}", colour
    relative = "" if kpi.relative_change is None else f" ({kpi.relative_change * 100:+.0f}%)"
    return f"{arrow} {int(kpi.change):+,}{relative}", colour


Column = tuple[str, str, Callable[[Any], str]]  # (header, row key, formatter)


def _table(rows: Iterable[dict[str, Any]], columns: Sequence[Column], empty: str) -> str:
    rows = list(rows)
    if not rows:
        return f'<p style="{_NOTE}">{html.escape(empty)}</p>'
    head = "".join(f'<th style="{_TH}">{html.escape(header)}</th>' for header, _, _ in columns)
    body = "".join(
        "<tr>"
        + "".join(f'<td style="{_TD}">{html.escape(fmt(row.get(key)))}</td>' for _, key, fmt in columns)
        + "</tr>"
        for row in rows
    )
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" width="100%" '
        f'style="border-collapse:collapse;"><tr>{head}</tr>{body}</table>'
    )


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _kpi_cells(kpis: Sequence[Kpi]) -> str:
    cells = []
    for kpi in kpis:
        change, colour = kpi_change(kpi)
        cells.append(
            f'<td style="{_FONT}padding:10px 12px;border:1px solid #e5e7eb;vertical-align:top;" width="33%">'
            f'<div style="font-size:12px;color:#6b7280;">{html.escape(kpi.label)}</div>'
            f'<div style="font-size:22px;font-weight:bold;color:#111827;">{html.escape(kpi_value(kpi))}</div>'
            f'<div style="font-size:12px;color:{colour};">{change}</div></td>'
        )
    rows = ["".join(cells[i : i + 3]) for i in range(0, len(cells), 3)]
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" width="100%" style="border-collapse:collapse;">'
        + "".join(f"<tr>{row}</tr>" for row in rows)
        + "</table>"
    )


def _image(chart: Chart | None) -> str:
    if chart is None:
        return ""
    return (
        f'<img src="cid:{html.escape(chart.cid)}" alt="{html.escape(chart.alt)}" width="600" '
        'style="display:block;max-width:100%;height:auto;border:0;margin:8px 0;">'
    )


def _volume(data: ReportData) -> str:
    summary = data.rows("period_summary")
    events = summary[0].get("events") if summary else None
    return f"{fmt_count(events)} events (each counted once)."


def render_html(data: ReportData, charts: Sequence[Chart]) -> str:
    by_cid = {c.cid: c for c in charts}
    previous = data.period.previous()
    sections = [
        f'<h1 style="{_H1}">FeaturePulse: {html.escape(data.period.label)}</h1>',
        f'<p style="{_NOTE}">{_volume(data)} Compared with the previous {data.period.kind} '
        f"({html.escape(previous.start.isoformat())} to {html.escape(previous.end.isoformat())}).</p>",
        _kpi_cells(data.kpis),
        _image(by_cid.get("active-users")),
        f'<h2 style="{_H2}">Funnel: view, use, complete</h2>',
        _image(by_cid.get("funnel")),
        _table(
            data.rows("feature_funnel"),
            [
                ("Feature", "feature", _text),
                ("Viewed", "funnel_viewed", fmt_count),
                ("Used", "funnel_used", fmt_count),
                ("Completed", "funnel_completed", fmt_count),
                ("View to use", "funnel_view_to_use_rate", fmt_rate),
                ("Use to complete", "funnel_use_to_complete_rate", fmt_rate),
                ("Median view to use", "funnel_median_seconds_view_to_use", fmt_seconds),
                ("Median use to complete", "funnel_median_seconds_use_to_complete", fmt_seconds),
            ],
            "No feature was viewed in this period.",
        ),
        f'<h2 style="{_H2}">Campaigns (first touch)</h2>',
        _image(by_cid.get("campaigns")),
        _table(
            data.rows("campaign_attribution"),
            [
                ("Source", "campaign_source", _text),
                ("Medium", "campaign_medium", _text),
                ("Campaign", "campaign_name", _text),
                ("Reached", "campaign_reached", fmt_count),
                ("Adopted", "campaign_adopters", fmt_count),
                ("Completed", "campaign_completers", fmt_count),
                ("Conversion", "campaign_conversion_rate", fmt_rate),
            ],
            "No activity in this period.",
        ),
        f'<h2 style="{_H2}">Experiments</h2>',
        _experiments(data.experiments),
        f'<h2 style="{_H2}">Retention of adopters</h2>',
        _table(
            retention_by_horizon(data.rows("adopter_retention")),
            [
                ("Feature", "feature", _text),
                ("After (days)", "horizon_days", _text),
                ("Cohort adopters", "cohort_adopters", fmt_count),
                ("Came back", "retention_rate", fmt_rate),
                ("Used the feature again", "feature_retention_rate", fmt_rate),
            ],
            "No adopter cohort is measured in this period.",
        ),
        f'<h2 style="{_H2}">Time on feature</h2>',
        _image(by_cid.get("time-on-feature")),
        f'<p style="{_NOTE}">Every table is attached as CSV. Generated {html.escape(data.generated_at.isoformat())}'
        f" by the {html.escape(data.engine)} engine"
        + ("" if data.bytes_scanned is None else f", {data.bytes_scanned:,} bytes scanned")
        + ".</p>",
    ]
    body = "\n".join(s for s in sections if s)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(subject(data))}</title></head>"
        '<body style="margin:0;padding:0;background:#f3f4f6;">'
        '<table role="presentation" cellpadding="0" cellspacing="0" width="100%" style="background:#f3f4f6;"><tr>'
        '<td align="center" style="padding:16px;">'
        '<table role="presentation" cellpadding="0" cellspacing="0" width="640" '
        'style="max-width:640px;background:#ffffff;border-collapse:collapse;"><tr><td style="padding:24px;">'
        f"{body}</td></tr></table></td></tr></table></body></html>"
    )


def _verdict_colour(verdict: str) -> str:
    return next((c for suffix, c in _VERDICT_COLOURS.items() if verdict.endswith(suffix)), _FLAT)


def _interval(v: VariantResult) -> str:
    return "-" if v.ci_low is None else f"{fmt_points(v.ci_low)} to {fmt_points(v.ci_high)}"


def srm_note(e: ExperimentResult) -> str:
    """The sample-ratio check in words: p-value, expected split, and whether it is flagged."""
    if e.srm is None:
        return "sample ratio: not checked (one variant)"
    split = " / ".join(f"{variant} {share * 100:.0f}%" for variant, share in e.srm.expected_shares.items())
    state = "MISMATCH, do not trust" if e.srm.flagged else "ok"
    return f"sample ratio vs {split}: chi-square p = {fmt_p(e.srm.p_value)} ({state}; flagged below {SRM_ALPHA:g})"


def _experiments(experiments: Sequence[ExperimentResult]) -> str:
    if not experiments:
        return f'<p style="{_NOTE}">No experiment exposure in this period.</p>'
    headers = ("Variant", "Exposed", "Converted", "Rate", "Difference", "Always-valid 95% interval", "p", "Verdict")
    head = "".join(f'<th style="{_TH}">{h}</th>' for h in headers)
    blocks = []
    for e in experiments:
        body = []
        for v in e.variants:
            cells = [
                v.variation_id + (" (control)" if v.is_control and v.variation_id.lower() != "control" else ""),
                fmt_count(v.exposed),
                fmt_count(v.converted),
                fmt_rate(v.rate),
                fmt_points(v.difference),
                _interval(v),
                fmt_p(v.p_value),
            ]
            decided = v.significant_since and v.verdict.endswith(("better than control", "worse than control"))
            verdict = v.verdict + (f" since {v.significant_since}" if decided else "")
            body.append(
                "<tr>"
                + "".join(f'<td style="{_TD}">{html.escape(c)}</td>' for c in cells)
                + f'<td style="{_TD}color:{_verdict_colour(v.verdict)};font-weight:bold;">'
                f"{html.escape(verdict)}</td></tr>"
            )
        blocks.append(
            f'<p style="{_FONT}font-size:14px;font-weight:bold;color:#111827;margin:16px 0 4px 0;">'
            f"{html.escape(e.experiment_id)}</p>"
            f'<p style="{_NOTE}">Goal: {html.escape(e.goal.label)}. Persons from {html.escape(e.window_start)} '
            f"to {html.escape(e.window_end)}.</p>"
            '<table role="presentation" cellpadding="0" cellspacing="0" width="100%" '
            f'style="border-collapse:collapse;"><tr>{head}</tr>{"".join(body)}</table>'
            f'<p style="{_NOTE}">{html.escape(srm_note(e))}. Method: {html.escape(e.method)}.</p>'
        )
    return "".join(blocks)


def render_text(data: ReportData) -> str:
    """The plain-text alternative: the headline and where to find the rest."""
    lines = [subject(data), _volume(data), ""]
    for kpi in data.kpis:
        change, _ = kpi_change(kpi)
        change = change.replace("&#9650;", "up").replace("&#9660;", "down").replace("&#8226;", "=")
        lines.append(f"- {kpi.label}: {kpi_value(kpi)} ({change})")
    lines.append("")
    for e in data.experiments:
        for v in e.variants:
            if not v.is_control:
                lines.append(
                    f"- Experiment {e.experiment_id} / {v.variation_id}: {v.verdict} (goal: {e.goal.label}; "
                    f"always-valid p = {fmt_p(v.p_value)}; {srm_note(e)})"
                )
    if data.experiments:
        lines.append(f"  Method: {data.experiments[0].method}.")
    lines += ["", "The HTML version has the funnel, campaigns, experiments and charts; every table is attached as CSV."]
    return "\n".join(lines) + "\n"
