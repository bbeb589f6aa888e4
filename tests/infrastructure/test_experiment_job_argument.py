"""The `experiments` deploy setting reaches the report job as its `--experiments` argument (docs/experiments.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from featurepulse.reporting.experiments_config import parse_experiments
from tests.infrastructure.conftest import Synthesized

SETTING = '{"ai-summary-onboarding": {"goal": {"event": "Summary Shared"}, "split": {"A": 1, "B": 3}}}'


def job_arguments(synthesized: Synthesized) -> dict[str, Any]:
    _, job = synthesized.resource(synthesized.stack.reporting.job)
    arguments: dict[str, Any] = job["Properties"]["DefaultArguments"]
    return arguments


def test_the_experiments_context_value_is_the_jobs_experiments_argument(
    synthesize_with: Callable[..., Synthesized],
) -> None:
    # Given the context value `experiments` (as `-c experiments='{...}'` gives it: text)
    synthesized = synthesize_with(experiments=SETTING)
    # Then the job's default arguments carry it, and the job parses it back to the same setting
    argument = job_arguments(synthesized)["--experiments"]
    assert parse_experiments(argument) == parse_experiments(SETTING)


def test_without_the_setting_the_argument_is_an_empty_object(synthesized: Synthesized) -> None:
    assert job_arguments(synthesized)["--experiments"] == "{}"


def test_the_goals_segment_trait_and_audience_traits_reach_the_job(
    synthesize_with: Callable[..., Synthesized],
) -> None:
    from featurepulse.domain.goals import parse_goals

    goals = '[{"metric": "adoption_rate", "feature": "ai-summary", "target": 0.25, "deadline": "2027-01-31"}]'
    # Given the context values as `-c` gives them (text)
    arguments = job_arguments(
        synthesize_with(goals=goals, reportSegmentTrait="role", reportAudienceTraits="plan,account.size")
    )
    # Then the job's default arguments carry them, and the job parses the goals back to the same list
    assert parse_goals(arguments["--goals"]) == parse_goals(goals)
    assert arguments["--segment_trait"] == "role"
    assert arguments["--audience_traits"] == "plan,account.size"


def test_without_settings_the_segment_is_the_plan_and_no_goal_is_set(synthesized: Synthesized) -> None:
    arguments = job_arguments(synthesized)
    assert (arguments["--segment_trait"], arguments["--audience_traits"], arguments["--goals"]) == (
        "plan",
        "plan",
        "[]",
    )
