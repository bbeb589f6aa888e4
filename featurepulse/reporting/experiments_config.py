"""The experiments setting: each experiment's goal, expected split, control and start (docs/experiments.md).

One JSON object, the same wherever it is set: the CDK context key `experiments` (deployed as the report job's
`--experiments` argument) or `experiments` in `.featurepulse/local.json` for local reports:

    {"ai-summary-onboarding": {"goal": {"feature": "ai-summary", "stage": "complete"},
                               "split": {"A": 50, "B": 50}, "control": "A", "start": "2026-03-01"},
     "pricing-page":          {"goal": {"event": "Plan Upgraded"}}}

Every key is optional. Without a goal an experiment's goal is completing its own feature: the feature that the
feature events carrying its `experiment_id` name most often (the traffic of a feature under test carries
`experiment_id` and `variation_id` on its view/use/complete events; `Experiment Viewed` itself names no
feature). `{"goal": {"stage": "use"}}` keeps that feature and changes the stage. Without a split the expected
split is equal across the variants seen. Without a control, the variant named 'control' (any case), else the
smallest variation id. Without a start the experiment is analysed over the report's period; with a start, over
[start, end of period], so every daily report reads the growing sample since the start, which is what the
sequential test is for. Experiments that are not listed get every default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from featurepulse.domain.stages import STAGE_COMPLETE, STAGES
from featurepulse.reporting.queries import InlineTable, ParameterValue

StageName = Literal["view", "use", "complete", "dismiss"]
DEFAULT_GOAL_STAGE: StageName = "complete"
assert set(get_args(StageName)) == set(STAGES) and DEFAULT_GOAL_STAGE == STAGE_COMPLETE  # one list of stages


class FeatureGoal(BaseModel):
    """Reaching a stage of a feature; the feature defaults to the experiment's own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    feature: str | None = Field(default=None, min_length=1)
    stage: StageName = DEFAULT_GOAL_STAGE


class EventGoal(BaseModel):
    """Sending a named event (any `track` event name, e.g. 'Plan Upgraded')."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: str = Field(min_length=1)


class ExperimentSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    goal: EventGoal | FeatureGoal = FeatureGoal()
    split: dict[str, float] | None = None
    control: str | None = Field(default=None, min_length=1)
    start: date | None = None

    @field_validator("split")
    @classmethod
    def _positive_weights(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("split needs at least one variant")
        bad = {k: w for k, w in value.items() if not w > 0}
        if bad:
            raise ValueError(f"split weights must be positive: {bad}")
        return value


class ExperimentsConfig(RootModel[dict[str, ExperimentSettings]]):
    """{experiment_id: ExperimentSettings}; an experiment not listed gets the defaults."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _from_json_text(cls, value: Any) -> Any:
        # `-c experiments='{...}'` and the job argument arrive as text; empty text means nothing configured.
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    def get(self, experiment_id: str) -> ExperimentSettings:
        return self.root.get(experiment_id) or ExperimentSettings()

    def to_json(self) -> str:
        """The compact JSON of this setting (what CDK passes as `--experiments`)."""
        return self.model_dump_json(exclude_defaults=True)


def parse_experiments(raw: str | Mapping[str, Any] | ExperimentsConfig | None) -> ExperimentsConfig:
    """The setting from JSON text, a mapping, or nothing (every experiment with the defaults)."""
    if raw is None:
        return ExperimentsConfig({})
    if isinstance(raw, ExperimentsConfig):
        return raw
    return ExperimentsConfig.model_validate(raw)


# The columns of the inline table `experiment_goals` that experiment_results.sql reads (one row per listed
# experiment; every cell a string or NULL).
GOAL_TABLE_COLUMNS: tuple[str, ...] = ("experiment_id", "goal_feature", "goal_stage", "goal_event", "window_start")


def goal_rows(config: ExperimentsConfig) -> tuple[tuple[str | None, ...], ...]:
    """The configured goals and starts as rows of `experiment_goals` (defaults are applied in the SQL)."""
    rows: list[tuple[str | None, ...]] = []
    for experiment_id, settings in sorted(config.root.items()):
        goal = settings.goal
        start = settings.start.isoformat() if settings.start else None
        if isinstance(goal, EventGoal):
            rows.append((experiment_id, None, None, goal.event, start))
        else:
            rows.append((experiment_id, goal.feature, goal.stage, None, start))
    return tuple(rows)


def earliest_start(config: ExperimentsConfig, period_start: date) -> date:
    """The first day any experiment reads: the period's start or an earlier configured start."""
    starts = [s.start for s in config.root.values() if s.start is not None]
    return min([period_start, *starts])


def experiment_query_parameters(config: ExperimentsConfig, period_start: date) -> dict[str, ParameterValue]:
    """What experiment_results.sql needs beyond the period: the scan's first day and the goals table."""
    return {
        "experiments_start_date": earliest_start(config, period_start),
        "experiment_goals": InlineTable(GOAL_TABLE_COLUMNS, goal_rows(config)),
    }
