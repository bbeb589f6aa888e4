"""The real-time metrics and dimensions, defined once.

Each `Metric` knows its Flink SQL aggregate (the job's `SELECT` list is generated from `METRICS`) and how to
compute itself over a list of events in plain Python (the reference model the tests and the benchmark
check the job against). Adding a metric here adds it to the job, the items, the model and the panels' data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from featurepulse.realtime import histogram
from featurepulse.realtime.events import STAGE_COMPLETE, STAGE_DISMISS, STAGE_USE, STAGE_VIEW, EngagementEvent

MetricKind = Literal["count", "distinct_users", "duration_count", "duration_sum", "duration_bucket"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: MetricKind
    stage: str | None = None
    bucket: int | None = None

    def sql(self) -> str:
        """The Flink SQL aggregate expression (without alias)."""
        where = f" FILTER (WHERE stage = '{self.stage}')" if self.stage else ""
        if self.kind == "count":
            return f"COUNT(*){where}"
        if self.kind == "distinct_users":
            return f"COUNT(DISTINCT user_key){where}"
        if self.kind == "duration_count":
            return "COUNT(duration_ms)"
        if self.kind == "duration_sum":
            return "COALESCE(SUM(duration_ms), CAST(0 AS BIGINT))"
        return f"COUNT(*) FILTER (WHERE duration_bucket = {self.bucket})"

    def evaluate(self, events: Sequence[EngagementEvent]) -> int:
        """The same aggregate over already de-duplicated, on-time events of one group, in plain Python."""
        selected = [e for e in events if self.stage is None or e.stage == self.stage]
        if self.kind == "count":
            return len(selected)
        if self.kind == "distinct_users":
            return len({e.user_key for e in selected if e.user_key is not None})
        if self.kind == "duration_count":
            return sum(1 for e in selected if e.duration_ms is not None)
        if self.kind == "duration_sum":
            return sum(e.duration_ms for e in selected if e.duration_ms is not None)
        return sum(1 for e in selected if e.duration_bucket == self.bucket)


# Stored on every aggregate row, in this order.
COUNTERS: tuple[Metric, ...] = (
    Metric("events", "count"),
    Metric("views", "count", STAGE_VIEW),
    Metric("uses", "count", STAGE_USE),
    Metric("completions", "count", STAGE_COMPLETE),
    Metric("dismissals", "count", STAGE_DISMISS),
    Metric("users", "distinct_users"),
    Metric("users_view", "distinct_users", STAGE_VIEW),
    Metric("users_use", "distinct_users", STAGE_USE),
    Metric("users_complete", "distinct_users", STAGE_COMPLETE),
    Metric("users_dismiss", "distinct_users", STAGE_DISMISS),
    Metric("duration_count", "duration_count"),
    Metric("duration_sum_ms", "duration_sum"),
)
COUNTER_NAMES: tuple[str, ...] = tuple(m.name for m in COUNTERS)
# Intermediate: the time-on-feature histogram, turned into p50/p95 on the row.
HISTOGRAM: tuple[Metric, ...] = tuple(
    Metric(f"duration_b{k}", "duration_bucket", bucket=k) for k in range(histogram.BUCKET_COUNT)
)
METRICS: tuple[Metric, ...] = COUNTERS + HISTOGRAM


@dataclass(frozen=True)
class Dimension:
    """A way of slicing: the group key `(feature, value_a, value_b)` of an event, in Python and in SQL."""

    name: str
    keys: Callable[[EngagementEvent], tuple[str, str, str] | None]
    sql_feature: str
    sql_a: str
    sql_b: str
    sql_where: str


def _overall(e: EngagementEvent) -> tuple[str, str, str] | None:
    return (e.feature, "", "") if e.feature else None


def _campaign(e: EngagementEvent) -> tuple[str, str, str] | None:
    return (e.feature, e.campaign, "") if e.feature and e.campaign else None


def _variant(e: EngagementEvent) -> tuple[str, str, str] | None:
    if e.feature and e.experiment_id and e.variation_id:
        return (e.feature, e.experiment_id, e.variation_id)
    return None


def _app(e: EngagementEvent) -> tuple[str, str, str] | None:
    return ("", "", "")


DIM_FEATURE = "feature"
DIM_CAMPAIGN = "campaign"
DIM_VARIANT = "variant"
DIM_APP = "app"
_FEATURE_PRESENT = "feature IS NOT NULL AND feature <> ''"
DIMENSIONS: tuple[Dimension, ...] = (
    # Every feature event, per feature.
    Dimension(DIM_FEATURE, _overall, "feature", "''", "''", _FEATURE_PRESENT),
    # Per feature and UTM campaign (context.campaign.name).
    Dimension(DIM_CAMPAIGN, _campaign, "feature", "campaign", "''", f"{_FEATURE_PRESENT} AND campaign IS NOT NULL"),
    # Per feature and experiment variant carried on the feature event.
    Dimension(
        DIM_VARIANT,
        _variant,
        "feature",
        "experiment_id",
        "variation_id",
        f"{_FEATURE_PRESENT} AND experiment_id IS NOT NULL AND variation_id IS NOT NULL",
    ),
    # Every event of any type: active users (DAU) and the denominator of adoption.
    Dimension(DIM_APP, _app, "''", "''", "''", "TRUE"),
)

GRANULARITY_MINUTE = "minute"
GRANULARITY_DAY = "day"


def evaluate_counters(events: Sequence[EngagementEvent]) -> dict[str, int]:
    return {m.name: m.evaluate(events) for m in COUNTERS}


def evaluate_histogram(events: Sequence[EngagementEvent]) -> list[int]:
    return [m.evaluate(events) for m in HISTOGRAM]
