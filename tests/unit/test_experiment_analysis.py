"""From the rows of experiment_results.sql to verdicts (featurepulse/reporting/experiments.analyse_experiments)."""

from __future__ import annotations

from typing import Any

import pytest

from featurepulse.reporting.experiments import (
    METHOD,
    VERDICT_COLLECTING,
    VERDICT_COLUMNS,
    VERDICT_CONTROL,
    VERDICT_NO_DIFFERENCE,
    VERDICT_NO_GOAL,
    VERDICT_SRM,
    analyse_experiments,
    verdict_table,
)
from featurepulse.reporting.experiments_config import parse_experiments

Counts = dict[str, tuple[int, int]]  # variant -> (exposed, converted), cumulative


def rows(
    experiment: str, days: dict[str, Counts], *, feature: str | None = "f", stage: str = "complete", **goal: Any
) -> list[dict[str, Any]]:
    return [
        {
            "experiment_id": experiment,
            "variation_id": variant,
            "look_date": day,
            "exposed": exposed,
            "converted": converted,
            "goal_feature": goal.get("goal_feature", feature),
            "goal_stage": goal.get("goal_stage", stage),
            "goal_event": goal.get("goal_event"),
            "goal_configured": goal.get("goal_configured", False),
            "window_start": min(days),
        }
        for day, counts in days.items()
        for variant, (exposed, converted) in counts.items()
    ]


def only(experiment_rows: list[dict[str, Any]], setting: str | None = None) -> Any:
    (result,) = analyse_experiments(experiment_rows, parse_experiments(setting))
    return result


def test_a_clear_win_is_better_than_control_and_names_its_goal_and_method() -> None:
    # Given one day with B converting 20 % against A's 10 %, 1000 persons each
    result = only(rows("exp", {"2026-03-10": {"A": (1000, 100), "B": (1000, 200)}}, feature="ai-summary"))
    # Then A (the smallest id) is control and B is better, with an always-valid interval above 0
    control, b = result.variants
    assert (control.variation_id, control.verdict, control.is_control) == ("A", VERDICT_CONTROL, True)
    assert b.verdict == "B better than control" and b.ci_low > 0 and b.p_value < 0.05
    assert b.significant_since == "2026-03-10"
    assert b.difference == 0.1 and b.rate == 0.2 and b.expected_share == 0.5
    # And the goal and the method are named
    assert result.goal.label == "completing ai-summary (the experiment's own feature)"
    assert result.method == METHOD and "mSPRT" in METHOD
    assert result.rows()[1]["goal"] == result.goal.label and result.rows()[1]["verdict"] == b.verdict


def test_a_clear_loss_is_worse_than_control() -> None:
    result = only(rows("exp", {"d1": {"control": (1000, 200), "treatment": (1000, 100)}}))
    assert result.control == "control"
    assert result.variants[1].verdict == "treatment worse than control"


def test_the_variant_named_control_is_control_else_the_configured_one() -> None:
    days = {"d1": {"B": (500, 50), "control": (500, 50)}}
    assert only(rows("exp", days)).control == "control"
    assert only(rows("exp", days), '{"exp": {"control": "B"}}').control == "B"


def test_a_small_sample_is_collecting_data() -> None:
    # Given fewer than 100 persons per arm, Then no verdict yet
    result = only(rows("exp", {"d1": {"A": (60, 6), "B": (70, 30)}}))
    assert result.variants[1].verdict == VERDICT_COLLECTING and result.variants[1].p_value is None


def test_no_difference_once_there_is_enough_data() -> None:
    result = only(rows("exp", {"d1": {"A": (1000, 100), "B": (1000, 104)}}))
    assert result.variants[1].verdict == VERDICT_NO_DIFFERENCE


def test_a_sample_ratio_mismatch_overrides_the_verdict() -> None:
    # Given a clear win, but 1000 vs 1300 exposed under a 50/50 split
    result = only(rows("exp", {"d1": {"A": (1000, 100), "B": (1300, 260)}}))
    # Then the verdict says not to trust it
    assert result.srm is not None and result.srm.flagged
    assert result.variants[1].verdict == VERDICT_SRM
    # And with the configured split that explains the counts, it is a win again
    weighted = only(rows("exp", {"d1": {"A": (1000, 100), "B": (1300, 260)}}), '{"exp": {"split": {"A": 10, "B": 13}}}')
    assert weighted.srm is not None and not weighted.srm.flagged
    assert weighted.variants[1].verdict == "B better than control"


def test_an_experiment_without_a_goal_says_so() -> None:
    # Given an experiment whose events name no feature and that has no configured goal
    result = only(rows("exp", {"d1": {"A": (1000, 0), "B": (1000, 0)}}, feature=None))
    assert result.variants[1].verdict == VERDICT_NO_GOAL
    assert result.goal.label.startswith("none")


def test_goal_labels() -> None:
    event = only(rows("e", {"d1": {"A": (1, 0), "B": (1, 0)}}, goal_event="Plan Upgraded", goal_configured=True))
    assert event.goal.label == "sending 'Plan Upgraded'"
    stage = only(rows("e", {"d1": {"A": (1, 0), "B": (1, 0)}}, feature="search", stage="use", goal_configured=True))
    assert stage.goal.label == "using search"


def test_a_verdict_reached_on_an_earlier_day_is_kept_and_missing_days_carry_the_counts() -> None:
    # Given a win visible on day 2, noise on day 3 that alone would not be significant, and a day-1 row only for A
    days = {
        "2026-03-01": {"A": (300, 30)},
        "2026-03-02": {"A": (1500, 150), "B": (1500, 250)},
        "2026-03-03": {"A": (3000, 300), "B": (3000, 345)},
    }
    result = only(rows("exp", days))
    b = result.variants[1]
    # Then the always-valid p is the minimum over the looks and the verdict stays "better" since day 2
    assert b.verdict == "B better than control" and b.significant_since == "2026-03-02"
    assert (b.exposed, b.converted) == (3000, 345) and b.difference == 0.015
    assert result.window_start == "2026-03-01" and result.window_end == "2026-03-03"


def test_three_variants_are_each_compared_with_control() -> None:
    result = only(rows("exp", {"d1": {"A": (1000, 100), "B": (1000, 200), "C": (1000, 40)}}))
    assert [v.verdict for v in result.variants] == [VERDICT_CONTROL, "B better than control", "C worse than control"]
    assert result.srm is not None and result.srm.degrees_of_freedom == 2


def test_the_one_line_summary_names_counts_goal_and_method() -> None:
    result = only(rows("exp", {"d1": {"A": (1000, 100), "B": (1000, 200)}}, feature="ai-summary"))
    line = result.summary(result.variants[1])
    assert line.startswith("exp: B better than control (B 200/1000 vs A 100/1000 persons;")
    assert "goal: completing ai-summary (the experiment's own feature)" in line and "mSPRT" in line


def test_the_verdict_table_has_one_row_per_variant_with_its_declared_columns() -> None:
    result = only(rows("exp", {"d1": {"A": (1000, 100), "B": (1000, 200)}}))
    table = verdict_table([result])
    assert table.name == "experiment_verdicts" and len(table.rows) == 2
    assert all(tuple(row) == table.columns for row in table.rows)


def test_the_catalogue_declares_the_metrics_of_the_verdict_table() -> None:
    from featurepulse.domain.metrics import metrics_at, named_like_a_metric

    # Every column of the verdict table named like a metric is a declared place of the catalogue's metrics
    declared = {place.column for _, place in metrics_at("report_table", "experiment_verdicts")}
    assert (
        {c for c in VERDICT_COLUMNS if named_like_a_metric(c)}
        == declared
        == {
            "exposed",
            "converted",
            "conversion_rate",
        }
    )


def test_with_several_treatments_each_is_tested_at_alpha_over_their_number() -> None:
    from featurepulse.reporting.experiments import Arm, sequential_look

    # Given a treatment C whose difference to control is significant at 5 % (p = 0.041) but not at 2.5 %
    alone = sequential_look(Arm(2000, 200), Arm(2000, 265))
    assert alone is not None and 0.025 < alone.p_value < 0.05
    single = only(rows("exp", {"d1": {"A": (2000, 200), "C": (2000, 265)}}))
    assert single.variants[1].verdict == "C better than control" and single.method == METHOD
    # When a second treatment B runs beside it
    result = only(rows("exp", {"d1": {"A": (2000, 200), "B": (2000, 200), "C": (2000, 265)}}))
    c = result.variants[2]
    # Then C's p-value is doubled (Bonferroni over 2 comparisons), its interval is the 97.5 % one, and the
    # verdict is no longer "better"
    assert c.p_value == pytest.approx(2 * alone.p_value)
    at_half_alpha = sequential_look(Arm(2000, 200), Arm(2000, 265), alpha=0.025)
    assert at_half_alpha is not None and (c.ci_low, c.ci_high) == pytest.approx(
        (at_half_alpha.ci_low, at_half_alpha.ci_high)
    )
    assert c.verdict == VERDICT_NO_DIFFERENCE
    assert "Bonferroni over 2 variants vs control" in result.method
