"""The e-mail's wording for a marketer: readable durations, partial periods, the previous period, the header,
plain words in place of statistics jargon, one plain sentence per section (featurepulse/reporting/render.py)."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurepulse.domain.metrics import metric
from featurepulse.reporting.charts import render_charts
from featurepulse.reporting.experiments import analyse_experiments
from featurepulse.reporting.experiments_config import parse_experiments
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import QUERY_NAMES
from featurepulse.reporting.render import fmt_seconds, render_html, render_text, subject
from featurepulse.reporting.report import HEADLINE_METRICS, ReportData, headline_kpis, partial_until
from featurepulse.reporting.runners import QueryResult

DAY = Period.containing("day", date(2026, 12, 4))
SUMMARY = {"events": 400, "active_persons": 120, "adopters": 30, "adoption_rate": 0.25, "completers": 9}
SUMMARY["completion_rate"] = 0.3
EMPTY_SUMMARY = dict.fromkeys(SUMMARY, 0) | {"adoption_rate": None, "completion_rate": None}


def result(name: str, *rows: dict[str, Any]) -> QueryResult:
    return QueryResult(name, tuple(rows[0]) if rows else (), rows)


def report(
    period: Period = DAY,
    *,
    now: datetime = datetime(2026, 12, 5, 6, tzinfo=UTC),
    previous: dict[str, Any] | None = None,
    funnel: tuple[dict[str, Any], ...] = (),
    experiment_rows: list[dict[str, Any]] | None = None,
) -> ReportData:
    """Report data as collect() builds it, from query rows written here."""
    previous = SUMMARY if previous is None else previous
    results = {name: result(name) for name in QUERY_NAMES}
    results["period_summary"] = result("period_summary", SUMMARY)
    results["active_users_daily"] = result(
        "active_users_daily", {"day": period.end, "dau": 120, "wau": 300, "mau": 399}
    )
    results["feature_funnel"] = QueryResult("feature_funnel", (), funnel)
    previous_results = {
        "period_summary": result("period_summary", previous),
        "active_users_daily": result("active_users_daily", {"day": period.start, "dau": 0, "wau": 0, "mau": 0}),
    }
    return ReportData(
        period=period,
        generated_at=now,
        engine="duckdb",
        kpis=headline_kpis(
            results["period_summary"].rows,
            previous_results["period_summary"].rows,
            results["active_users_daily"].rows,
            previous_results["active_users_daily"].rows,
        ),
        results=results,
        previous_results=previous_results,
        experiments=analyse_experiments(experiment_rows or [], parse_experiments(None)),
        data_until=partial_until(period, now),
        min_exposed_per_variant=100,
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.25, "0.2 s"),
        (0.34, "0.3 s"),
        (0.0, "0 s"),
        (0.01, "< 0.1 s"),
        (3.0, "3 s"),
        (9.97, "10 s"),
        (12.4, "12 s"),
        (119.4, "119 s"),
        (210.0, "3.5 min"),
        (7257.0, "2 h"),
        (3 * 86400.0, "3 days"),
        (None, "-"),
    ],
)
def test_durations_are_rounded_to_what_a_person_reads(seconds: float | None, shown: str) -> None:
    assert fmt_seconds(seconds) == shown


@given(st.floats(min_value=1.0, max_value=30 * 86400.0))
def test_a_shown_duration_is_within_five_percent_of_the_real_one(seconds: float) -> None:
    # Given any duration of a second or more, When it is shown
    number, unit = fmt_seconds(seconds).split(" ")
    # Then reading it back is off by at most 5% (never "0 s" for a quarter of a second, never "7257 s")
    back = float(number) * {"s": 1, "min": 60, "h": 3600, "days": 86400}[unit]
    assert abs(back - seconds) <= 0.05 * seconds + 1e-9


def test_a_funnel_median_of_a_third_of_a_second_reads_0_3_s_in_the_email() -> None:
    funnel = (
        {
            "feature": "export",
            "funnel_viewed": 10,
            "funnel_used": 5,
            "funnel_completed": 2,
            "funnel_median_seconds_view_to_use": 0.34,
            "funnel_median_seconds_use_to_complete": 12.4,
        },
    )
    page = render_html(report(funnel=funnel), [])
    assert ">0.3 s<" in page and ">12 s<" in page and ">0 s<" not in page


def test_a_day_not_over_is_marked_partial_in_the_subject_and_the_header() -> None:
    # Given the report of 4 December run at 14:30 UTC that day
    data = report(now=datetime(2026, 12, 4, 14, 30, 5, tzinfo=UTC))
    # When it is rendered
    page, text = render_html(data, []), render_text(data)
    # Then the subject and the header say it is partial and up to when
    assert subject(data) == "FeaturePulse report: Friday 04 December 2026, partial (data up to 14:30 UTC)"
    assert "<h1" in page and "Friday 04 December 2026, partial (data up to 14:30 UTC)</h1>" in page
    assert "this day is not over yet, so its numbers will still grow" in page
    assert "after it ends (2026-12-05 00:00 UTC) gives the final numbers" in page
    assert "The changes compare this unfinished day with the whole previous day (2026-12-03)." in page
    assert text.startswith("FeaturePulse report: Friday 04 December 2026, partial (data up to 14:30 UTC)\n")


def test_a_day_that_is_over_is_not_marked_partial() -> None:
    # Given the report of 4 December run just after midnight UTC
    data = report(now=datetime(2026, 12, 5, 0, 0, tzinfo=UTC))
    # Then nothing says partial
    assert not data.partial
    assert subject(data) == "FeaturePulse report: Friday 04 December 2026"
    assert "partial" not in render_html(data, []).lower()


def test_a_week_not_over_names_the_day_and_time_of_its_data() -> None:
    week = Period.containing("week", date(2026, 12, 2))
    data = report(week, now=datetime(2026, 12, 2, 9, 5))  # a naive time is UTC
    assert subject(data).endswith(", partial (data up to Wed 02 Dec 09:05 UTC)")


def test_against_an_empty_previous_period_counts_and_rates_all_say_no_previous_data() -> None:
    # Given a previous day without any event (its counts are 0, its rates undefined)
    data = report(previous=EMPTY_SUMMARY)
    # When the headline is rendered
    page, text = render_html(data, []), render_text(data)
    # Then every KPI, counts and rates alike, says "no previous data": no "+399" beside a rate without a change
    assert [k.change for k in data.kpis] == [None] * (len(HEADLINE_METRICS) + 1)
    assert page.count("no previous data") == len(data.kpis)
    assert "+120" not in page and "+399" not in page and "&#9650;" not in page
    assert "The previous day (2026-12-03) has no data, so there is nothing to compare with." in page
    assert "- Active persons: 120 (no previous data)" in text


def test_against_a_previous_period_with_data_a_count_from_zero_is_a_change() -> None:
    # Given a previous day with events but nobody who completed
    data = report(previous=SUMMARY | {"completers": 0, "completion_rate": 0.0})
    # Then the completers show their change from zero, and rates their change in percentage points
    kpis = {k.label: k for k in data.kpis}
    assert kpis[metric("completers").label].change == 9
    page = render_html(data, [])
    assert "&#9650; +9<" in page and "&#9650; +30.0 percentage points" in page
    assert " pt<" not in page


def test_the_header_names_the_previous_day_by_its_date_and_the_previous_week_by_its_range() -> None:
    day_page = render_html(report(), [])
    assert "compared with the previous day (2026-12-03)." in day_page
    assert "2026-12-03 to 2026-12-03" not in day_page
    week_page = render_html(report(Period.containing("week", date(2026, 12, 2))), [])
    assert "compared with the previous week (2026-11-23 to 2026-11-29)." in week_page


def exposures(counts: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    return [
        {
            "experiment_id": "onboarding",
            "variation_id": variant,
            "look_date": "2026-12-04",
            "exposed": exposed,
            "converted": converted,
            "goal_feature": "ai-summary",
            "goal_stage": "complete",
            "goal_event": None,
            "goal_configured": False,
            "window_start": "2026-12-04",
        }
        for variant, (exposed, converted) in counts.items()
    ]


def test_plain_words_replace_statistics_jargon_which_moves_to_a_footnote() -> None:
    # Given an experiment with too few persons for a verdict
    data = report(experiment_rows=exposures({"A": (40, 4), "B": (41, 9)}))
    # When the e-mail is rendered
    page = render_html(data, [])
    body, _, footer = page.partition("Every table is attached as CSV.")
    # Then the verdict says what it needs, with the threshold
    assert "not enough data yet: needs at least 100 persons per variant" in page
    # And no jargon reaches the body: no "pt", "95% CI", "p-value", no engine
    for jargon in (" pt<", " pt ", "95% CI", "p-value", "duckdb", "engine"):
        assert jargon not in body, jargon
    # And the statistics are in a small footnote under the experiment; the engine on the technical line
    assert re.search(r"font-size:11px[^>]*>Statistics: the likely range is the always-valid 95% confidence", page)
    assert "Technical details: generated 2026-12-05 06:00 UTC by the duckdb query engine" in footer


def test_every_section_opens_with_one_plain_sentence_and_uses_the_catalogue_labels() -> None:
    page = render_html(report(experiment_rows=exposures({"A": (40, 4), "B": (41, 9)})), [])
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>(<p[^>]*>)?([^<]*)", page)
    assert [h for h, _, _ in headings] == [
        "Funnel: view, use, complete",
        "Adoption by plan",
        "Campaigns (first touch)",
        "Audiences",
        "Experiments",
        "Retention of adopters",
        "Time on feature",
    ]
    for heading, paragraph, sentence in headings:
        assert paragraph and sentence.count(".") == 1 and sentence.endswith("."), heading
    # And the headline's meanings are the catalogue's
    assert all(html.escape(metric(name).meaning) in page for name in HEADLINE_METRICS)


def test_a_chart_whose_values_are_all_zero_is_left_out() -> None:
    # Given a funnel row of a feature nobody viewed
    zero = ({"feature": "export", "funnel_viewed": 0, "funnel_used": 0, "funnel_completed": 0},)
    seen = ({"feature": "export", "funnel_viewed": 3, "funnel_used": 1, "funnel_completed": 0},)
    # Then there is no blank funnel chart, and a funnel with viewers has one
    assert [c.cid for c in render_charts(report(funnel=zero))] == []
    assert [c.cid for c in render_charts(report(funnel=seen))] == ["funnel"]


def test_goals_ranking_and_audiences_read_in_plain_words() -> None:
    import dataclasses

    from featurepulse.domain.goals import GoalSettings, goal_status
    from featurepulse.reporting.audiences import Audience, AudienceFile, AudienceMember
    from featurepulse.reporting.campaigns import rank_campaigns

    # Given a goal off track, three campaigns (one far below the rest, two with spend), and one audience
    goal = GoalSettings(metric="adoption_rate", feature="ai-summary", target=0.25, deadline=date(2027, 1, 31))
    status = goal_status(goal, {DAY.end: 0.10}, DAY.end)
    rows = [
        {
            "campaign_source": s,
            "campaign_medium": "cpc",
            "campaign_name": n,
            "campaign_reached": r,
            "campaign_adopters": a,
        }
        for s, n, r, a in (("google", "spring", 150, 45), ("linkedin", "webinar", 80, 40), ("bing", "beta", 60, 6))
    ]
    member = AudienceMember("usr_1", ("usr_1",), {"plan": "team"})
    data = dataclasses.replace(
        report(),
        goals=(status,),
        campaigns=rank_campaigns(rows, {"spring": 900.0, "beta": 120.0}),
        audiences=(Audience("ai-summary", "viewed-not-adopted", (member,)),),
        audience_files=(AudienceFile("ai-summary", "viewed-not-adopted", 1, "k", "https://lake.example/a?X-Amz=1"),),
    )
    page, text = render_html(data, []), render_text(data)
    # Then the goal says where it stands, its status and the rule in a footnote
    assert "Adoption rate of ai-summary &gt;= 25.0% by 2027-01-31" in page and ">off track<" in page
    assert "How the status is set: least-squares line" in page
    # And the ranking names the best campaign, the cheapest adopter and the one to review, with the test in small print
    assert "Best adoption per person reached: webinar (50.0%)." in page
    assert "Lowest cost per adopter: beta ($20.00)." in page
    assert "Significantly below the rest: beta: review or stop." in page
    assert "one-sided two-proportion z-test" in page
    # And each audience has its size and a link that says it expires
    assert 'href="https://lake.example/a?X-Amz=1"' in page and "expire after 7 days" in page
    # And it says how to get a fresh list once a link has expired
    assert "featurepulse audiences export --feature FEATURE" in page
    # And the text part carries the goal and the audiences too
    assert "- Goal: Adoption rate of ai-summary >= 25.0% by 2027-01-31: off track" in text
    assert "- Audience ai-summary / viewed-not-adopted: 1 persons" in text
