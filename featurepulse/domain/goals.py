"""KPI goals declared up front and their status: met, on track, at risk, off track (docs/reports.md, "Goals").

A goal says "this metric of this feature reaches this target by this deadline", e.g. adoption_rate of
`ai-summary` >= 0.25 by 2027-01-31. It is set once, the same way wherever it is read: the CDK context key
`goals` (deployed as the report job's `--goals` argument) or `goals` in `.featurepulse/local.json`:

    [{"metric": "adoption_rate", "feature": "ai-summary", "target": 0.25, "deadline": "2027-01-31"}]

The metric is a metric of the catalogue (featurepulse/domain/metrics.py) that has one value per day and
feature (`GOAL_METRICS`: the report's daily adoption table and the live panels both carry them), so the e-mail
and the live dashboard compute the status with the same function from the same kind of daily values.

The projection rule (`goal_status`), stated once:
- the **current value** is the value of the latest day with data (the report's last day, the dashboard's today);
- the **trend** is the daily values of the `TREND_DAYS` (14) days ending on that day; a day without any event
  has no value and is left out (a day with events but none of the feature has the value 0);
- **met**: the current value already reaches the target;
- otherwise the least-squares line through the trend's values (x = the day) is projected to the deadline:
  **on track** if the projection reaches the target, **at risk** if it reaches `AT_RISK_SHARE` (90 %) of it,
  else **off track**. With one value the line is flat (that value);
- **missed**: the deadline is over and the current value does not reach the target;
- **no data**: no day of the trend has a value.
Targets are "at least" targets (adoption, adopters, viewers: more is better).

Pure: pydantic at the boundary (the setting), standard library for the arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from featurepulse.domain.metrics import METRIC_NAMES, metric

# Catalogue metrics with one value per day and feature (athena_queries/feature_adoption_daily.sql and the live
# panels' day rows): the metrics a goal may name.
GOAL_METRICS: tuple[str, ...] = ("adoption_rate", "adopters", "feature_viewers")
TREND_DAYS = 14
AT_RISK_SHARE = 0.9

GoalState = Literal["met", "on track", "at risk", "off track", "missed", "no data"]
GOAL_STATES: tuple[GoalState, ...] = ("met", "on track", "at risk", "off track", "missed", "no data")

PROJECTION_RULE = (
    f"least-squares line through the daily values of the last {TREND_DAYS} days, projected to the deadline: "
    f"met if the current value already reaches the target; on track if the projection reaches it; at risk if it "
    f"reaches {AT_RISK_SHARE:.0%} of it; else off track (missed once the deadline is over)"
)


class GoalSettings(BaseModel):
    """One goal: `metric` of `feature` reaches at least `target` by the end of `deadline` (a UTC day)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    feature: str = Field(min_length=1)
    target: float = Field(ge=0)
    deadline: date

    @field_validator("metric")
    @classmethod
    def _catalogue_metric(cls, value: str) -> str:
        if value not in METRIC_NAMES:
            raise ValueError(
                f"{value!r} is not a metric of the catalogue (docs/metrics.md); a goal may name one of: "
                f"{', '.join(GOAL_METRICS)}"
            )
        if value not in GOAL_METRICS:
            raise ValueError(
                f"{value!r} has no daily value per feature, so no trend can be drawn; a goal may name one of: "
                f"{', '.join(GOAL_METRICS)}"
            )
        return value

    @model_validator(mode="after")
    def _rate_target(self) -> GoalSettings:
        if metric(self.metric).unit == "rate" and self.target > 1:
            raise ValueError(f"{self.metric} is a share between 0 and 1: target {self.target:g} (25 % is 0.25)")
        return self

    @property
    def label(self) -> str:
        """ "Adoption rate of ai-summary >= 25.0% by 2027-01-31"."""
        target = format_goal_value(self.metric, self.target)
        return f"{metric(self.metric).label} of {self.feature} >= {target} by {self.deadline}"


class GoalsConfig(RootModel[tuple[GoalSettings, ...]]):
    """The `goals` setting: a JSON list (text or parsed) of goals; empty: no goal."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _from_json_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    def to_json(self) -> str:
        """Compact JSON (what CDK passes as `--goals`)."""
        return json.dumps(
            [
                {"metric": g.metric, "feature": g.feature, "target": g.target, "deadline": g.deadline.isoformat()}
                for g in self.root
            ],
            separators=(",", ":"),
        )


def parse_goals(raw: str | Sequence[Any] | GoalsConfig | None) -> GoalsConfig:
    """The setting from JSON text, a list, or nothing (no goal). ValueError (pydantic's) names the bad goal."""
    if raw is None:
        return GoalsConfig(())
    if isinstance(raw, GoalsConfig):
        return raw
    return GoalsConfig.model_validate(raw)


def format_goal_value(metric_name: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric(metric_name).unit == "rate":
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}"


@dataclass(frozen=True)
class GoalStatus:
    goal: GoalSettings
    as_of: date  # the day the current value is of
    current: float | None
    trend: tuple[tuple[date, float | None], ...]  # the TREND_DAYS days ending on as_of, oldest first
    projected: float | None  # the line's value on the deadline (None without data)
    state: GoalState

    @property
    def sentence(self) -> str:
        """One plain sentence for the e-mail, the dashboard and the demo."""
        g = self.goal
        current = format_goal_value(g.metric, self.current)
        projected = format_goal_value(g.metric, self.projected)
        if self.state == "no data":
            return f"{g.label}: no data in the last {TREND_DAYS} days"
        if self.state == "met":
            return f"{g.label}: met ({current} on {self.as_of})"
        if self.state == "missed":
            return f"{g.label}: missed ({current} on {self.as_of}, after the deadline)"
        return f"{g.label}: {self.state} ({current} on {self.as_of}; the trend reaches {projected} by {g.deadline})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (the dashboard's API)."""
        return {
            "metric": self.goal.metric,
            "feature": self.goal.feature,
            "target": self.goal.target,
            "deadline": self.goal.deadline.isoformat(),
            "label": self.goal.label,
            "as_of": self.as_of.isoformat(),
            "current": self.current,
            "projected": self.projected,
            "state": self.state,
            "sentence": self.sentence,
            "trend": [{"day": d.isoformat(), "value": v} for d, v in self.trend],
        }


def trend_days(as_of: date) -> tuple[date, ...]:
    """The TREND_DAYS days ending on `as_of`, oldest first."""
    return tuple(as_of - timedelta(days=offset) for offset in range(TREND_DAYS - 1, -1, -1))


def least_squares(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through the points; flat through the mean with one x."""
    n = len(points)
    if n == 0:
        raise ValueError("no points")
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0, mean_y
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return slope, mean_y - slope * mean_x


def goal_status(goal: GoalSettings, daily: Mapping[date, float | None], as_of: date) -> GoalStatus:
    """The goal's status from its metric's daily values (day -> value; None or absent: no data that day)."""
    days = trend_days(as_of)
    trend = tuple((d, None if daily.get(d) is None else float(daily[d])) for d in days)  # type: ignore[arg-type]
    known = [(d, v) for d, v in trend if v is not None]
    if not known:
        return GoalStatus(goal, as_of, None, trend, None, "no data")
    current_day, current = known[-1]
    slope, intercept = least_squares([(float((d - as_of).days), v) for d, v in known])
    projected = intercept + slope * float((goal.deadline - as_of).days)
    state: GoalState
    if current >= goal.target:
        state = "met"
    elif as_of > goal.deadline:
        state = "missed"
    elif projected >= goal.target:
        state = "on track"
    elif projected >= AT_RISK_SHARE * goal.target:
        state = "at risk"
    else:
        state = "off track"
    return GoalStatus(goal, current_day, current, trend, projected, state)


def daily_goal_values(
    goal: GoalSettings, adoption_rows: Sequence[Mapping[str, Any]], active_by_day: Mapping[date, int]
) -> dict[date, float | None]:
    """The goal metric's value per day from rows of feature_adoption_daily (day, feature, adopters, ...) and the
    day's active persons (any event): a day with events but no row of the feature has the value 0; a day without
    any event has none."""
    out: dict[date, float | None] = {d: (0.0 if n > 0 else None) for d, n in active_by_day.items()}
    for row in adoption_rows:
        if row.get("feature") != goal.feature:
            continue
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(str(row["day"])[:10])
        value = row.get(goal.metric)
        out[day] = None if value is None else float(value)
    return out
