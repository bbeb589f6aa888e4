"""KPI goals (featurepulse/domain/goals.py): the setting is validated against the metric catalogue, and the status
follows the stated projection rule (least-squares line over the last 14 daily values, projected to the deadline)."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from featurepulse.domain.goals import (
    AT_RISK_SHARE,
    GOAL_METRICS,
    TREND_DAYS,
    GoalSettings,
    daily_goal_values,
    goal_status,
    least_squares,
    parse_goals,
)

AS_OF = date(2026, 12, 4)
GOAL = GoalSettings(metric="adoption_rate", feature="ai-summary", target=0.25, deadline=date(2027, 1, 31))


def line(start: float, per_day: float) -> dict[date, float | None]:
    """Daily values of the trend window on a straight line (oldest first)."""
    return {AS_OF - timedelta(days=TREND_DAYS - 1 - i): start + per_day * i for i in range(TREND_DAYS)}


def test_the_setting_accepts_the_issue_example_and_refuses_what_is_not_a_daily_catalogue_metric() -> None:
    # Given the issue's goal, as the CDK context would hold it
    goals = parse_goals(
        '[{"metric": "adoption_rate", "feature": "ai-summary", "target": 0.25, "deadline": "2027-01-31"}]'
    )
    assert goals.root == (GOAL,)
    assert parse_goals(goals.to_json()) == goals  # the job argument round-trips
    # Then a name outside the catalogue, a catalogue metric without a daily value per feature, and a rate above 1
    # are refused with a sentence naming the problem and the metrics a goal may use
    for bad, words in (
        ({"metric": "adoption", "target": 0.2}, "is not a metric of the catalogue"),
        ({"metric": "mau", "target": 5}, "has no daily value per feature"),
        ({"metric": "adoption_rate", "target": 25}, "is a share between 0 and 1"),
    ):
        with pytest.raises(ValidationError) as error:
            GoalSettings.model_validate({"feature": "f", "deadline": "2027-01-31", **bad})
        assert words in str(error.value)
        if "catalogue" in words or "daily" in words:
            assert ", ".join(GOAL_METRICS) in str(error.value)


def test_a_goal_already_reached_is_met_whatever_the_trend() -> None:
    status = goal_status(GOAL, line(0.40, -0.01), AS_OF)
    assert status.state == "met" and status.current == pytest.approx(0.27)


@pytest.mark.parametrize(
    ("per_day", "state"),
    [(0.003, "on track"), (0.0, "off track"), (-0.001, "off track")],
)
def test_the_trend_projected_to_the_deadline_decides_on_or_off_track(per_day: float, state: str) -> None:
    # Given values rising (or not) from 10 % over the last 14 days, When projected to the deadline (58 days on)
    status = goal_status(GOAL, line(0.10, per_day), AS_OF)
    # Then the status follows the projection, which is the line's value on the deadline
    assert status.state == state
    expected = 0.10 + per_day * (TREND_DAYS - 1) + per_day * (GOAL.deadline - AS_OF).days
    assert status.projected == pytest.approx(expected)


def test_a_projection_within_ninety_percent_of_the_target_is_at_risk() -> None:
    # Given a flat trend at 23 % (92 % of a 25 % target)
    status = goal_status(GOAL, line(0.23, 0.0), AS_OF)
    assert AT_RISK_SHARE * GOAL.target <= 0.23 < GOAL.target
    assert status.state == "at risk"


def test_days_without_data_are_left_out_and_no_day_at_all_is_no_data() -> None:
    # Given only two days with a value, When the status is computed
    values: dict[date, float | None] = {AS_OF - timedelta(days=5): 0.1, AS_OF - timedelta(days=1): 0.3, AS_OF: None}
    status = goal_status(GOAL, values, AS_OF)
    # Then the current value is the latest day with data and the line goes through the two points
    assert (status.as_of, status.current) == (AS_OF - timedelta(days=1), 0.3)
    assert status.state == "met"
    assert len(status.trend) == TREND_DAYS and status.trend[-1] == (AS_OF, None)
    assert goal_status(GOAL, {}, AS_OF).state == "no data"


def test_a_deadline_that_passed_without_reaching_the_target_is_missed() -> None:
    late = GOAL.model_copy(update={"deadline": AS_OF - timedelta(days=1)})
    assert goal_status(late, line(0.1, 0.01), AS_OF).state == "missed"


@given(st.lists(st.tuples(st.integers(-13, 0), st.floats(0, 1)), min_size=2, max_size=14, unique_by=lambda p: p[0]))
def test_the_line_is_the_least_squares_fit(points: list[tuple[int, float]]) -> None:
    xs, ys = [float(x) for x, _ in points], [y for _, y in points]
    slope, intercept = least_squares(list(zip(xs, ys, strict=True)))
    want = statistics.linear_regression(xs, ys)
    assert slope == pytest.approx(want.slope, abs=1e-9) and intercept == pytest.approx(want.intercept, abs=1e-9)


def test_daily_values_are_zero_on_active_days_without_the_feature_and_none_on_days_without_events() -> None:
    rows = [{"day": AS_OF, "feature": "ai-summary", "adoption_rate": 0.2, "adopters": 4, "feature_viewers": 9}]
    active = {AS_OF: 20, AS_OF - timedelta(days=1): 15, AS_OF - timedelta(days=2): 0}
    values = daily_goal_values(GOAL, rows, active)
    assert values == {AS_OF: 0.2, AS_OF - timedelta(days=1): 0.0, AS_OF - timedelta(days=2): None}


def test_the_stack_refuses_a_goal_on_an_unknown_metric_at_synth() -> None:
    from cdk.settings import SettingsError, StackSettings

    with pytest.raises(SettingsError, match=r"goals\.0\.metric: .*'adoption' is not a metric of the catalogue"):
        StackSettings.from_mapping(
            {"goals": '[{"metric": "adoption", "feature": "f", "target": 0.2, "deadline": "2027-01-31"}]'}
        )
    settings = StackSettings.from_mapping({"goals": [GOAL.model_dump(mode="json")], "reportSegmentTrait": "role"})
    assert settings.report_goals.root == (GOAL,) and settings.report_segment_trait == "role"
