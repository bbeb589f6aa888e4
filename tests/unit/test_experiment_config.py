"""The experiments setting (featurepulse/reporting/experiments_config.py)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from featurepulse.reporting.experiments_config import (
    EventGoal,
    ExperimentSettings,
    FeatureGoal,
    earliest_start,
    goal_rows,
    parse_experiments,
)

SETTING = (
    '{"ai-summary-onboarding": {"goal": {"feature": "ai-summary", "stage": "use"}, "split": {"A": 50, "B": 50},'
    ' "control": "A", "start": "2026-03-01"},'
    ' "pricing": {"goal": {"event": "Plan Upgraded"}}}'
)


def test_a_setting_with_a_feature_goal_and_an_event_goal_parses() -> None:
    # Given the JSON of the deploy setting, When it is parsed
    config = parse_experiments(SETTING)
    # Then each experiment has its goal, split, control and start
    onboarding = config.get("ai-summary-onboarding")
    assert onboarding.goal == FeatureGoal(feature="ai-summary", stage="use")
    assert onboarding.split == {"A": 50, "B": 50} and onboarding.control == "A"
    assert onboarding.start == date(2026, 3, 1)
    assert config.get("pricing").goal == EventGoal(event="Plan Upgraded")
    # And an experiment that is not listed gets the defaults: completing its own feature, equal split
    assert config.get("unlisted") == ExperimentSettings()
    assert config.get("unlisted").goal == FeatureGoal(feature=None, stage="complete")


def test_nothing_set_means_every_experiment_with_the_defaults() -> None:
    assert parse_experiments(None).root == {}
    assert parse_experiments("").root == {}
    assert parse_experiments({}).root == {}


def test_the_setting_round_trips_through_its_json() -> None:
    config = parse_experiments(SETTING)
    assert parse_experiments(config.to_json()) == config


@pytest.mark.parametrize(
    "bad",
    [
        '{"x": {"goal": {"feature": "f", "stage": "finish"}}}',  # not a stage
        '{"x": {"goal": {"event": ""}}}',  # empty event name
        '{"x": {"goal": {"event": "E", "feature": "f"}}}',  # a goal is a feature stage OR an event
        '{"x": {"split": {"A": 1, "B": 0}}}',  # weights must be positive
        '{"x": {"split": {}}}',
        '{"x": {"goals": {"event": "E"}}}',  # a typo is refused, not ignored
        '{"x": {"start": "yesterday"}}',
    ],
)
def test_a_wrong_setting_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_experiments(bad)


def test_goal_rows_are_what_the_sql_binds_and_earliest_start_bounds_the_scan() -> None:
    # Given the setting
    config = parse_experiments(SETTING)
    # Then each listed experiment is one row (experiment, feature, stage, event, start), sorted
    assert goal_rows(config) == (
        ("ai-summary-onboarding", "ai-summary", "use", None, "2026-03-01"),
        ("pricing", None, None, "Plan Upgraded", None),
    )
    # And the scan starts at the earliest configured start, or the period's start when that is earlier
    assert earliest_start(config, date(2026, 3, 10)) == date(2026, 3, 1)
    assert earliest_start(config, date(2026, 2, 1)) == date(2026, 2, 1)
    assert earliest_start(parse_experiments(None), date(2026, 3, 10)) == date(2026, 3, 10)


def test_the_deploy_setting_and_the_job_argument_carry_the_same_setting() -> None:
    from cdk.settings import StackSettings
    from glue_jobs.campaign_report import parse_job_arguments

    # Given the CDK context value `experiments` as `-c` text
    settings = StackSettings.model_validate({"experiments": SETTING})
    assert settings.report_experiments == parse_experiments(SETTING)
    assert StackSettings().report_experiments == parse_experiments(None)
    # When the stack passes it as the job argument --experiments, Then the job's report settings hold it
    argv = [
        *("--period", "day", "--database", "db", "--events_table", "events", "--workgroup", "wg"),
        *("--sender", "r@x.example", "--recipients", "m@x.example", "--send_log_table", "log"),
        *("--experiments", settings.report_experiments.to_json()),
    ]
    assert parse_job_arguments(argv).settings().experiments == parse_experiments(SETTING)
    # And a wrong setting fails the synth, not the report
    with pytest.raises(ValidationError):
        StackSettings.model_validate({"experiments": '{"x": {"goal": {"stage": "done"}}}'})
