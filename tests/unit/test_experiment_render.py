"""The e-mail's experiment section: counts, the always-valid interval and p, the SRM check, the verdict with its
goal and method (featurepulse/reporting/render.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from featurepulse.reporting.experiments import METHOD, analyse_experiments
from featurepulse.reporting.experiments_config import parse_experiments
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import QUERY_NAMES
from featurepulse.reporting.render import SRM_TEXT, render_html, render_text
from featurepulse.reporting.report import ReportData
from featurepulse.reporting.runners import QueryResult


def looks(experiment: str, counts: dict[str, tuple[int, int]], **goal: Any) -> list[dict[str, Any]]:
    return [
        {
            "experiment_id": experiment,
            "variation_id": variant,
            "look_date": "2026-03-10",
            "exposed": exposed,
            "converted": converted,
            "goal_feature": goal.get("feature", "ai-summary"),
            "goal_stage": "complete",
            "goal_event": goal.get("event"),
            "goal_configured": bool(goal),
            "window_start": "2026-03-10",
        }
        for variant, (exposed, converted) in counts.items()
    ]


def report(rows: list[dict[str, Any]]) -> ReportData:
    empty = {name: QueryResult(name, (), ()) for name in QUERY_NAMES}
    return ReportData(
        period=Period.containing("day", date(2026, 3, 10)),
        generated_at=datetime(2026, 3, 11, 6, tzinfo=UTC),
        engine="duckdb",
        kpis=(),
        results=empty,
        experiments=analyse_experiments(rows, parse_experiments(None)),
    )


def test_the_section_shows_counts_interval_p_srm_verdict_goal_and_method() -> None:
    # Given a clear win and an experiment with a broken split whose goal is an event with markup in its name
    data = report(
        looks("onboarding", {"A": (1000, 100), "B": (1000, 200)})
        + looks("<pricing>", {"control": (1000, 100), "treatment": (1300, 260)}, event="Plan <Upgraded>")
    )
    # When the e-mail is rendered
    page = render_html(data, [])
    # Then each experiment shows its goal, its counts, rate, difference (in percentage points), likely range and
    # verdict, with its p-value in the statistics footnote
    assert "Goal: completing ai-summary (the experiment&#x27;s own feature)." in page
    assert ">1,000<" in page and ">200<" in page and ">20.0%<" in page and ">+10.0<" in page
    assert "Difference vs control (percentage points)" in page and "Likely range of the difference" in page
    assert "B better than control since 2026-03-10" in page and "color:#15803d" in page
    assert "always-valid 95% confidence interval" in page and "B vs A: always-valid p &lt; 0.001" in page
    # And the sample-ratio check with the expected split in words, its test in the footnote, and the method
    assert "split between the variants as planned (A 50% / B 50%)" in page
    assert "split check: chi-square p = 1.000 (flagged as a mismatch below 0.001)" in page
    assert METHOD in page
    # And the mismatch is flagged in red, every value escaped
    assert "MISMATCH" in page
    assert f'color:#b91c1c;font-weight:bold;">{SRM_TEXT}<' in page
    assert "&lt;pricing&gt;" in page and "Plan &lt;Upgraded&gt;" in page and "<pricing>" not in page
    # And the text version has one line per compared variant with its goal and the method once
    text = render_text(data)
    assert "- Experiment onboarding / B: B better than control since 2026-03-10 (goal: completing ai-summary" in text
    assert f"- Experiment <pricing> / treatment: {SRM_TEXT} (goal: sending 'Plan <Upgraded>'" in text
    assert text.count("Method: ") == 1


def test_without_exposure_the_section_says_so() -> None:
    assert "No experiment exposure in this period." in render_html(report([]), [])
