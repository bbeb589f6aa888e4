"""The e-mail body: HTML that reads well in mail clients (tables, inline styles, no CSS classes, no
scripts, images by Content-ID) and a plain-text alternative. Every value from the data is escaped.

Written for the marketer who reads it (docs/reports.md, "Reading the report"): each section opens with one plain
sentence saying what it shows; column headers and the glossary under a section are the metric catalogue's labels
and meanings (featurepulse/domain/metrics.py); numbers are rounded to what a person reads ("0.3 s", "12 s",
"3.5 min"); the statistics (p-values, the confidence level, the method) sit in a small footnote under their
section; the engine and the bytes scanned are on the technical line at the bottom. A period not over yet is
marked "partial (data up to HH:MM UTC)" in the subject and the header.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from featurepulse.domain.goals import PROJECTION_RULE, TREND_DAYS, GoalStatus, format_goal_value
from featurepulse.domain.metrics import metric
from featurepulse.reporting.audiences import AUDIENCE_MEANINGS, LINK_EXPIRES_S
from featurepulse.reporting.campaigns import METHOD as CAMPAIGN_METHOD
from featurepulse.reporting.campaigns import CampaignComparison
from featurepulse.reporting.charts import Chart
from featurepulse.reporting.experiments import (
    ALPHA,
    MIN_OUTCOMES,
    SRM_ALPHA,
    VERDICT_COLLECTING,
    VERDICT_SRM,
    ExperimentResult,
    VariantResult,
)
from featurepulse.reporting.periods import Period
from featurepulse.reporting.report import Kpi, ReportData, period_over_at, retention_by_horizon

_FONT = "font-family:Arial,Helvetica,sans-serif;"
_TD = f"{_FONT}font-size:13px;color:#111827;padding:6px 8px;border-bottom:1px solid #e5e7eb;"
_TH = f"{_FONT}font-size:12px;color:#6b7280;padding:6px 8px;border-bottom:2px solid #d1d5db;text-align:left;"
_H2 = f"{_FONT}font-size:16px;color:#111827;margin:28px 0 4px 0;"
_H1 = f"{_FONT}font-size:20px;color:#111827;margin:0 0 4px 0;"
_LEAD = f"{_FONT}font-size:13px;color:#374151;margin:0 0 8px 0;"
_NOTE = f"{_FONT}font-size:12px;color:#6b7280;margin:4px 0 0 0;"
_FOOTNOTE = f"{_FONT}font-size:11px;color:#9ca3af;margin:6px 0 0 0;"
_PARTIAL = (
    f"{_FONT}font-size:13px;color:#92400e;background:#fef3c7;border:1px solid #fcd34d;padding:8px 10px;margin:8px 0;"
)
_GOOD, _BAD, _FLAT = "#15803d", "#b91c1c", "#6b7280"

SRM_TEXT = "do not trust: the persons were not split between the variants as planned"


# --- numbers a person reads --------------------------------------------------------------------------


def _one_decimal(value: float) -> str:
    """One decimal, without a trailing ".0" ("3.5", "3")."""
    return f"{value:.1f}".removesuffix(".0")


def fmt_count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def fmt_rate(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"


def fmt_seconds(value: Any) -> str:
    """A duration rounded to what a person reads: "0.3 s", "12 s", "3.5 min", "2.5 h", "3.2 days"."""
    if value is None:
        return "-"
    seconds = float(value)
    if seconds <= 0:
        return "0 s"
    if seconds < 0.05:
        return "< 0.1 s"
    if seconds < 9.95:
        return f"{_one_decimal(seconds)} s"
    if seconds < 119.5:
        return f"{seconds:.0f} s"
    if seconds < 119.5 * 60:
        return f"{_one_decimal(seconds / 60)} min"
    if seconds < 47.95 * 3600:
        return f"{_one_decimal(seconds / 3600)} h"
    return f"{_one_decimal(seconds / 86400)} days"


def fmt_p(value: Any) -> str:
    if value is None:
        return "-"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def p_is(value: Any) -> str:
    """ "p < 0.001", "p = 0.042"."""
    shown = fmt_p(value)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def fmt_points(value: Any) -> str:
    """A difference of two rates in percentage points, signed ("+2.1 percentage points")."""
    return "-" if value is None else f"{float(value) * 100:+.1f} percentage points"


def _signed_points(value: Any) -> str:
    """The number of percentage points alone (the column header names the unit)."""
    return "-" if value is None else f"{float(value) * 100:+.1f}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- the period: partial, previous -------------------------------------------------------------------


def data_until_text(data: ReportData) -> str:
    """ "14:30 UTC" for a day; with the day for a week ("Wed 11 Mar 14:30 UTC")."""
    if data.data_until is None:
        return ""
    until = _utc(data.data_until)
    return f"{until:%H:%M} UTC" if data.period.days == 1 else f"{until:%a %d %b %H:%M} UTC"


def partial_marker(data: ReportData) -> str:
    """ "partial (data up to 14:30 UTC)", or "" for a period that is over."""
    return f"partial (data up to {data_until_text(data)})" if data.partial else ""


def period_dates(period: Period) -> str:
    """ "2026-12-03" for one day, "2026-11-23 to 2026-11-29" for a week."""
    if period.start == period.end:
        return period.start.isoformat()
    return f"{period.start.isoformat()} to {period.end.isoformat()}"


def previous_period_text(period: Period) -> str:
    """ "previous day (2026-12-03)", "previous week (2026-11-23 to 2026-11-29)"."""
    return f"previous {period.kind} ({period_dates(period.previous())})"


def subject(data: ReportData) -> str:
    marker = partial_marker(data)
    return f"FeaturePulse report: {data.period.label}" + (f", {marker}" if marker else "")


# --- headline ----------------------------------------------------------------------------------------


def kpi_value(kpi: Kpi) -> str:
    return fmt_rate(kpi.value) if kpi.format == "rate" else fmt_count(kpi.value)


def kpi_change(kpi: Kpi) -> tuple[str, str]:
    """The change against the previous period as text and colour ("no previous data" for counts and rates
    alike when the previous period had no event)."""
    if kpi.change is None:
        return "no previous data", _FLAT
    colour = _GOOD if kpi.change > 0 else _BAD if kpi.change < 0 else _FLAT
    arrow = "&#9650;" if kpi.change > 0 else "&#9660;" if kpi.change < 0 else "&#8226;"
    if kpi.format == "rate":
        return f"{arrow} {fmt_points(kpi.change)}", colour
    relative = "" if kpi.relative_change is None else f" ({kpi.relative_change * 100:+.0f}%)"
    return f"{arrow} {int(kpi.change):+,}{relative}", colour


def headline_sentences(data: ReportData) -> list[str]:
    """What the headline shows, what it is compared with, and what a partial period means (plain text)."""
    kind, previous = data.period.kind, previous_period_text(data.period)
    compared = "" if data.previous_is_empty else f", each compared with the {previous}"
    lines = [
        f"How many persons were active this {kind}, how many adopted a feature (used or completed it) and how many "
        f"completed one{compared}.",
        f"{fmt_count(data.events)} events, each counted once.",
    ]
    if data.previous_is_empty:
        lines.append(f"The {previous} has no data, so there is nothing to compare with.")
    elif data.partial:
        lines.append(f"The changes compare this unfinished {kind} with the whole {previous}.")
    return lines


def partial_sentence(data: ReportData) -> str:
    over = period_over_at(data.period)
    return (
        f"Partial report (data up to {data_until_text(data)}): this {data.period.kind} is not over yet, so its numbers "
        f"will still grow. A report run after it ends ({over:%Y-%m-%d %H:%M} UTC) gives the final numbers."
    )


# --- HTML building blocks ----------------------------------------------------------------------------

Column = tuple[str, str, Callable[[Any], str]]  # (header, row key, formatter)


def fmt_usd(value: Any) -> str:
    """ "$1,234.50"; "-" for none."""
    return "-" if value is None else f"${float(value):,.2f}"


_BY_UNIT: dict[str, Callable[[Any], str]] = {
    "persons": fmt_count,
    "events": fmt_count,
    "rate": fmt_rate,
    "seconds": fmt_seconds,
    "usd": fmt_usd,
}


def _header(label: str, strip_prefix: str) -> str:
    text = label.removeprefix(strip_prefix).split(" (D1")[0]
    return text[:1].upper() + text[1:]


def metric_columns(names: Sequence[str], *, strip_prefix: str = "") -> list[Column]:
    """Table columns of catalogue metrics: the catalogue's label as the header, formatted by the metric's unit."""
    return [(_header(metric(n).label, strip_prefix), n, _BY_UNIT[metric(n).unit]) for n in names]


def glossary(names: Sequence[str]) -> str:
    """The catalogue's label and meaning of each metric, as one line of small print."""
    return "Definitions: " + " ".join(f"{metric(n).label} \u2014 {metric(n).meaning}" for n in names)


def _p(style: str, text: str) -> str:
    return f'<p style="{style}">{html.escape(text)}</p>' if text else ""


def _table(rows: Iterable[dict[str, Any]], columns: Sequence[Column], empty: str) -> str:
    rows = list(rows)
    if not rows:
        return _p(_NOTE, empty)
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


def _section(title: str, lead: str) -> str:
    return f'<h2 style="{_H2}">{html.escape(title)}</h2>' + _p(_LEAD, lead)


# --- sections ----------------------------------------------------------------------------------------

FUNNEL_METRICS = (
    "funnel_viewed",
    "funnel_used",
    "funnel_completed",
    "funnel_view_to_use_rate",
    "funnel_use_to_complete_rate",
    "funnel_median_seconds_view_to_use",
    "funnel_median_seconds_use_to_complete",
)
CAMPAIGN_METRICS = ("campaign_reached", "campaign_adopters", "campaign_completers", "campaign_conversion_rate")
RETENTION_METRICS = ("cohort_adopters", "retention_rate", "feature_retention_rate")
EXPERIMENT_METRICS = ("exposed", "converted", "conversion_rate")

FUNNEL_LEAD = (
    "For each feature: how many persons viewed it, how many of them then used it and then completed it (in that "
    "order), and the typical (median) time each step took."
)
CAMPAIGN_LEAD = (
    "Which campaigns brought people: each active person is credited to the first campaign link they came "
    "through in the period (none: direct), then counted if they adopted or completed a feature afterwards."
)
EXPERIMENT_LEAD = (
    "For each experiment: how many persons saw each variant, how many of them reached the experiment's goal, "
    "and whether a variant does better or worse than the control group."
)
RETENTION_LEAD = (
    "Of the persons who adopted a feature on a given day, how many came back 1, 7 and 30 days later (any "
    "activity), and how many used the same feature again."
)
TIME_ON_FEATURE_LEAD = (
    "How long persons spent on each feature: the share of the feature's timed events in each duration range."
)


def _funnel(data: ReportData, chart: Chart | None) -> str:
    return (
        _section("Funnel: view, use, complete", FUNNEL_LEAD)
        + _image(chart)
        + _table(
            data.rows("feature_funnel"),
            [("Feature", "feature", _text), *metric_columns(FUNNEL_METRICS, strip_prefix="Funnel: ")],
            "No feature was viewed in this period.",
        )
        + _p(_FOOTNOTE, glossary(FUNNEL_METRICS[:3]) + " A median: half the persons took less time, half more.")
    )


def _campaigns(data: ReportData, chart: Chart | None) -> str:
    return (
        _section("Campaigns (first touch)", CAMPAIGN_LEAD)
        + _image(chart)
        + _table(
            data.rows("campaign_attribution"),
            [
                ("Source", "campaign_source", _text),
                ("Medium", "campaign_medium", _text),
                ("Campaign", "campaign_name", _text),
                *metric_columns(CAMPAIGN_METRICS),
            ],
            "No activity in this period.",
        )
        + _p(_FOOTNOTE, glossary(CAMPAIGN_METRICS[:1]))
    )


def _retention(data: ReportData) -> str:
    return (
        _section("Retention of adopters", RETENTION_LEAD)
        + _table(
            retention_by_horizon(data.rows("adopter_retention")),
            [
                ("Feature", "feature", _text),
                ("After (days)", "horizon_days", _text),
                *metric_columns(RETENTION_METRICS),
            ],
            "No adopter cohort is measured in this period.",
        )
        + _p(_FOOTNOTE, glossary(RETENTION_METRICS))
    )


def _time_on_feature(data: ReportData, chart: Chart | None) -> str:
    body = _image(chart) if chart is not None else _p(_NOTE, "No feature event with a duration in this period.")
    return _section("Time on feature", TIME_ON_FEATURE_LEAD) + body


# --- goals, segments, campaign ranking, audiences (docs/reports.md) ------------------------------------

GOALS_LEAD = (
    f"Each goal set for the product: where it stands, its last {TREND_DAYS} days, and whether the trend reaches "
    "the target by the deadline."
)
SEGMENT_METRICS = ("active_persons", "adopters", "adoption_rate")
RANKING_METRICS = ("campaign_reached", "campaign_adopters", "campaign_adoption_rate", "campaign_cost_per_adopter")
STATE_COLOURS = {"met": _GOOD, "on track": _GOOD, "at risk": "#b45309", "off track": _BAD, "missed": _BAD}
_SPARKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"


def sparkline(values: Sequence[float | None]) -> str:
    """The trend as a line of block characters (a space for a day without data)."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    return "".join(
        " " if v is None else _SPARKS[0 if span == 0 else min(7, int((v - low) / span * 7.999))] for v in values
    )


def goal_cells(g: GoalStatus) -> list[str]:
    return [
        g.goal.label,
        f"{format_goal_value(g.goal.metric, g.current)} ({g.as_of})" if g.current is not None else "-",
        sparkline([v for _, v in g.trend]),
        format_goal_value(g.goal.metric, g.projected),
        g.state,
    ]


def _goals(data: ReportData) -> str:
    if not data.goals:
        return ""
    head = "".join(
        f'<th style="{_TH}">{h}</th>'
        for h in ("Goal", "Now", f"Last {TREND_DAYS} days", "Trend at the deadline", "Status")
    )
    body = "".join(
        "<tr>"
        + "".join(f'<td style="{_TD}">{html.escape(c)}</td>' for c in goal_cells(g)[:-1])
        + f'<td style="{_TD}color:{STATE_COLOURS.get(g.state, _FLAT)};font-weight:bold;">{html.escape(g.state)}</td>'
        + "</tr>"
        for g in data.goals
    )
    return (
        _section("Goals", GOALS_LEAD) + '<table role="presentation" cellpadding="0" cellspacing="0" width="100%" '
        f'style="border-collapse:collapse;"><tr>{head}</tr>{body}</table>'
        + _p(_FOOTNOTE, f"How the status is set: {PROJECTION_RULE}.")
    )


def segment_lead(trait: str) -> str:
    return (
        f"For each feature and each {trait}: how many persons were active, how many of them adopted the feature "
        f"(used or completed it), and the share, with persons whose {trait} is not known under (unknown)."
    )


def _segments(data: ReportData) -> str:
    trait = data.segment_trait
    return (
        _section(f"Adoption by {trait}", segment_lead(trait))
        + _table(
            data.rows("feature_adoption_by_segment"),
            [
                ("Feature", "feature", _text),
                (trait[:1].upper() + trait[1:], "segment_value", _text),
                *metric_columns(SEGMENT_METRICS),
            ],
            "No feature was used in this period.",
        )
        + _p(_FOOTNOTE, glossary(SEGMENT_METRICS) + f" Within the {trait}: the persons of that {trait} only.")
    )


def ranking_sentence(ranking: Sequence[CampaignComparison]) -> str:
    if not ranking:
        return "No campaign brought anyone in this period."
    best = ranking[0]
    lines = [f"Best adoption per person reached: {best.campaign_name} ({fmt_rate(best.adoption_rate)})."]
    cheapest = next((c for c in ranking if c.cost_rank == 1), None)
    if cheapest is not None:
        lines.append(f"Lowest cost per adopter: {cheapest.campaign_name} ({fmt_usd(cheapest.cost_per_adopter)}).")
    else:
        lines.append("No campaign spend was imported, so there is no cost per adopter (featurepulse spend import).")
    below = [c.campaign_name for c in ranking if c.below_rest]
    lines.append(
        f"Significantly below the rest: {', '.join(below)}: review or stop."
        if below
        else "No campaign's adoption is significantly below the rest."
    )
    return " ".join(lines)


def _flag(c: CampaignComparison) -> str:
    if c.below_rest:
        return "significantly below the rest"
    return "not enough persons to tell" if c.p_value is None else ""


def _ranking(data: ReportData) -> str:
    rows = [{**c.row(), "flag": _flag(c)} for c in data.campaigns]
    tested = [c for c in data.campaigns if c.p_value is not None]
    p_values = "; ".join(f"{c.campaign_name} {p_is(c.p_value)}" for c in tested)
    return (
        f'<p style="{_FONT}font-size:14px;font-weight:bold;color:#111827;margin:16px 0 4px 0;">Campaign ranking</p>'
        + _p(_NOTE, ranking_sentence(data.campaigns))
        + _table(
            rows,
            [
                ("Rank", "rank", _text),
                ("Campaign", "campaign_name", _text),
                *metric_columns(RANKING_METRICS),
                ("Spend", "campaign_spend_usd", fmt_usd),
                ("Cost rank", "cost_rank", _text),
                ("Flag", "flag", _text),
            ],
            "No campaign in this period.",
        )
        + _p(
            _FOOTNOTE,
            glossary(RANKING_METRICS[2:])
            + f" Statistics: {CAMPAIGN_METHOD}"
            + (f"; adjusted {p_values}." if p_values else "."),
        )
    )


AUDIENCES_LEAD = (
    "Persons to reach again, for each feature: who viewed it but did not adopt it, and who used it but did not "
    "complete it, in this period (only persons with a known user id; each list is a CSV file of their user ids "
    "and traits)."
)


def _audience_link(location: str) -> str:
    if location.startswith(("https://", "http://")):
        return f'<a href="{html.escape(location)}" style="color:#1d4ed8;">download (CSV)</a>'
    return html.escape(location)


def _audiences(data: ReportData) -> str:
    section = _section("Audiences", AUDIENCES_LEAD)
    if not data.audiences:
        return section + _p(_NOTE, "No feature was viewed or used in this period.")
    where = {(f.feature, f.audience): f.location for f in data.audience_files}
    head = "".join(f'<th style="{_TH}">{h}</th>' for h in ("Feature", "Audience", "Persons", "List"))
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{_TD}">{c}</td>'
            for c in (
                html.escape(a.feature),
                html.escape(f"{a.audience}: {AUDIENCE_MEANINGS[a.audience]}"),
                html.escape(fmt_count(a.size)),
                _audience_link(where[(a.feature, a.audience)]) if (a.feature, a.audience) in where else "not written",
            )
        )
        + "</tr>"
        for a in data.audiences
    )
    links = any(f.location.startswith("https://") for f in data.audience_files)
    expiry = (
        f" The links expire after {LINK_EXPIRES_S // 86400} days at the latest (sooner when the report job's "
        "credentials end); a fresh list at any time: featurepulse audiences export --feature FEATURE --audience "
        f"AUDIENCE --period {data.period.kind} --date {data.period.start.isoformat()}."
        if links
        else ""
    )
    return (
        section + '<table role="presentation" cellpadding="0" cellspacing="0" width="100%" '
        f'style="border-collapse:collapse;"><tr>{head}</tr>{body}</table>'
        + _p(_FOOTNOTE, glossary(("audience_persons",)) + expiry)
    )


# --- experiments (the statistics in a footnote; docs/experiments.md) -----------------------------------


def _control(e: ExperimentResult) -> VariantResult | None:
    return next((v for v in e.variants if v.is_control), None)


def verdict_text(e: ExperimentResult, v: VariantResult, min_exposed: int) -> str:
    """The verdict in plain words: what is missing before one is possible, or the outcome."""
    if v.verdict == VERDICT_COLLECTING:
        control = _control(e)
        fewest = min(v.exposed, control.exposed if control else v.exposed)
        if fewest < min_exposed:
            return f"not enough data yet: needs at least {min_exposed:,} persons per variant"
        return (
            f"not enough data yet: needs at least {MIN_OUTCOMES} persons who reached the goal and {MIN_OUTCOMES} "
            "who did not, in the two variants together"
        )
    if v.verdict == VERDICT_SRM:
        return SRM_TEXT
    decided = v.significant_since and v.verdict.endswith(("better than control", "worse than control"))
    return v.verdict + (f" since {v.significant_since}" if decided else "")


def _verdict_colour(v: VariantResult) -> str:
    if v.verdict == VERDICT_SRM or v.verdict.endswith("worse than control"):
        return _BAD
    return _GOOD if v.verdict.endswith("better than control") else _FLAT


def _interval(v: VariantResult) -> str:
    return "-" if v.ci_low is None else f"{_signed_points(v.ci_low)} to {_signed_points(v.ci_high)}"


def split_sentence(e: ExperimentResult) -> str:
    """The sample-ratio check in plain words (its statistic goes to the footnote)."""
    if e.srm is None:
        return "Split check: not possible with one variant."
    planned = " / ".join(f"{variant} {share * 100:.0f}%" for variant, share in e.srm.expected_shares.items())
    if not e.srm.flagged:
        return f"Split check: the persons were split between the variants as planned ({planned})."
    total = sum(v.exposed for v in e.variants) or 1
    seen = " / ".join(f"{v.variation_id} {v.exposed / total * 100:.0f}%" for v in e.variants)
    return (
        f"Split check: MISMATCH, the persons were not split as planned ({planned} planned, {seen} seen): the "
        "assignment or the tracking is broken, so do not trust this experiment's results."
    )


def statistics(e: ExperimentResult) -> str:
    """What "likely range" is, the p-values and the split check's test (the footnote, without the method)."""
    treatments = sum(1 for v in e.variants if not v.is_control)
    level = (1 - ALPHA / max(treatments, 1)) * 100  # several treatments: each at alpha / m (the method says so)
    parts = [f"Statistics: the likely range is the always-valid {level:g}% confidence interval of the difference"]
    parts += [
        f"{v.variation_id} vs {e.control}: always-valid {p_is(v.p_value)}"
        for v in e.variants
        if not v.is_control and v.p_value is not None
    ]
    if e.srm is not None:
        parts.append(f"split check: chi-square {p_is(e.srm.p_value)} (flagged as a mismatch below {SRM_ALPHA:g})")
    return "; ".join(parts) + "."


def statistics_note(e: ExperimentResult) -> str:
    """The experiment's footnote: the statistics and the method."""
    return f"{statistics(e)} Method: {e.method}."


_EXPERIMENT_HEADERS = (
    "Variant",
    *(_header(metric(n).label, "") for n in EXPERIMENT_METRICS),
    "Difference vs control (percentage points)",
    "Likely range of the difference",
    "Verdict",
)


def _window(e: ExperimentResult) -> str:
    if e.window_start == e.window_end:
        return f"Persons on {e.window_start}."
    return f"Persons from {e.window_start} to {e.window_end}."


def _experiments(data: ReportData) -> str:
    section = _section("Experiments", EXPERIMENT_LEAD)
    if not data.experiments:
        return section + _p(_NOTE, "No experiment exposure in this period.")
    head = "".join(f'<th style="{_TH}">{html.escape(h)}</th>' for h in _EXPERIMENT_HEADERS)
    blocks = []
    for e in data.experiments:
        body = []
        for v in e.variants:
            cells = [
                v.variation_id + (" (control)" if v.is_control and v.variation_id.lower() != "control" else ""),
                fmt_count(v.exposed),
                fmt_count(v.converted),
                fmt_rate(v.rate),
                _signed_points(v.difference),
                _interval(v),
            ]
            body.append(
                "<tr>"
                + "".join(f'<td style="{_TD}">{html.escape(c)}</td>' for c in cells)
                + f'<td style="{_TD}color:{_verdict_colour(v)};font-weight:bold;">'
                f"{html.escape(verdict_text(e, v, data.min_exposed_per_variant))}</td></tr>"
            )
        blocks.append(
            f'<p style="{_FONT}font-size:14px;font-weight:bold;color:#111827;margin:16px 0 4px 0;">'
            f"{html.escape(e.experiment_id)}</p>"
            + _p(_NOTE, f"Goal: {e.goal.label}. {_window(e)}")
            + '<table role="presentation" cellpadding="0" cellspacing="0" width="100%" '
            f'style="border-collapse:collapse;"><tr>{head}</tr>{"".join(body)}</table>'
            + _p(_NOTE, split_sentence(e))
            + _p(_FOOTNOTE, statistics_note(e))
        )
    return section + "".join(blocks)


# --- the whole e-mail --------------------------------------------------------------------------------


def technical_line(data: ReportData) -> str:
    scanned = "" if data.bytes_scanned is None else f", {data.bytes_scanned:,} bytes scanned"
    return (
        f"Technical details: generated {_utc(data.generated_at):%Y-%m-%d %H:%M} UTC by the {data.engine} query "
        f"engine{scanned}."
    )


def render_html(data: ReportData, charts: Sequence[Chart]) -> str:
    by_cid = {c.cid: c for c in charts}
    title = f"FeaturePulse: {data.period.label}" + (f", {partial_marker(data)}" if data.partial else "")
    sections = [
        f'<h1 style="{_H1}">{html.escape(title)}</h1>',
        _p(_PARTIAL, partial_sentence(data)) if data.partial else "",
        *(_p(_LEAD if i == 0 else _NOTE, line) for i, line in enumerate(headline_sentences(data))),
        _kpi_cells(data.kpis),
        _p(_FOOTNOTE, "Definitions: " + " ".join(f"{k.label} \u2014 {k.meaning}" for k in data.kpis if k.meaning)),
        _goals(data),
        _image(by_cid.get("active-users")),
        _funnel(data, by_cid.get("funnel")),
        _segments(data),
        _campaigns(data, by_cid.get("campaigns")),
        _ranking(data),
        _audiences(data),
        _experiments(data),
        _retention(data),
        _time_on_feature(data, by_cid.get("time-on-feature")),
        _p(f"{_NOTE}margin-top:28px;", "Every table is attached as CSV."),
        _p(_FOOTNOTE, technical_line(data)),
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


def render_text(data: ReportData) -> str:
    """The plain-text alternative: the headline and where to find the rest."""
    lines = [subject(data), ""]
    if data.partial:
        lines += [partial_sentence(data), ""]
    lines += [*headline_sentences(data), ""]
    for kpi in data.kpis:
        change, _ = kpi_change(kpi)
        change = change.replace("&#9650;", "up").replace("&#9660;", "down").replace("&#8226;", "=")
        lines.append(f"- {kpi.label}: {kpi_value(kpi)} ({change})")
    lines.append("")
    for g in data.goals:
        lines.append(f"- Goal: {g.sentence}")
    if data.campaigns:
        lines.append(f"- Campaigns: {ranking_sentence(data.campaigns)}")
    for a in data.audiences:
        lines.append(f"- Audience {a.feature} / {a.audience}: {a.size:,} persons")
    lines.append("")
    for e in data.experiments:
        for v in e.variants:
            if not v.is_control:
                lines.append(
                    f"- Experiment {e.experiment_id} / {v.variation_id}: "
                    f"{verdict_text(e, v, data.min_exposed_per_variant)} (goal: {e.goal.label})"
                )
        lines.append(f"  {split_sentence(e)}")
    if data.experiments:
        lines.append("")
        lines += [f"  {e.experiment_id}: {statistics(e)}" for e in data.experiments]
        lines.append(f"  Method: {data.experiments[0].method}.")
    lines += [
        "",
        "The HTML version has the goals, funnel, adoption by segment, campaigns, audiences, experiments and charts; "
        "every table is attached as CSV.",
        technical_line(data),
    ]
    return "\n".join(lines) + "\n"
