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
from featurepulse.realtime.events import (
    ADOPTION_STAGES,
    STAGE_COMPLETE,
    STAGE_DISMISS,
    STAGE_USE,
    STAGE_VIEW,
    EngagementEvent,
)

MetricKind = Literal["count", "distinct_persons", "duration_count", "duration_sum", "duration_bucket"]


@dataclass(frozen=True)
class Metric:
    """One aggregate of a window. `stages` restricts it to events of those funnel stages (empty: every event)."""

    name: str
    kind: MetricKind
    stages: tuple[str, ...] = ()
    bucket: int | None = None

    def sql(self) -> str:
        """The Flink SQL aggregate expression (without alias)."""
        where = ""
        if len(self.stages) == 1:
            where = f" FILTER (WHERE stage = '{self.stages[0]}')"
        elif self.stages:
            where = " FILTER (WHERE stage IN (" + ", ".join(f"'{s}'" for s in self.stages) + "))"
        if self.kind == "count":
            return f"COUNT(*){where}"
        if self.kind == "distinct_persons":
            return f"COUNT(DISTINCT person_key){where}"
        if self.kind == "duration_count":
            return "COUNT(duration_ms)"
        if self.kind == "duration_sum":
            return "COALESCE(SUM(duration_ms), CAST(0 AS BIGINT))"
        return f"COUNT(*) FILTER (WHERE duration_bucket = {self.bucket})"

    def evaluate(self, events: Sequence[EngagementEvent]) -> int:
        """The same aggregate over already de-duplicated, on-time, person-resolved events of one group."""
        selected = [e for e in events if not self.stages or e.stage in self.stages]
        if self.kind == "count":
            return len(selected)
        if self.kind == "distinct_persons":
            return len({e.person_key for e in selected if e.person_key is not None})
        if self.kind == "duration_count":
            return sum(1 for e in selected if e.duration_ms is not None)
        if self.kind == "duration_sum":
            return sum(e.duration_ms for e in selected if e.duration_ms is not None)
        return sum(1 for e in selected if e.duration_bucket == self.bucket)


# Stored on every aggregate row, in this order. Person counters count persons (featurepulse/realtime/persons.py).
COUNTERS: tuple[Metric, ...] = (
    Metric("events", "count"),
    Metric("views", "count", (STAGE_VIEW,)),
    Metric("uses", "count", (STAGE_USE,)),
    Metric("completions", "count", (STAGE_COMPLETE,)),
    Metric("dismissals", "count", (STAGE_DISMISS,)),
    Metric("persons", "distinct_persons"),
    Metric("persons_view", "distinct_persons", (STAGE_VIEW,)),
    Metric("persons_use", "distinct_persons", (STAGE_USE,)),
    Metric("persons_complete", "distinct_persons", (STAGE_COMPLETE,)),
    Metric("persons_dismiss", "distinct_persons", (STAGE_DISMISS,)),
    Metric("adopters", "distinct_persons", ADOPTION_STAGES),  # the catalogue's rule: use or complete
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
    # Every event of any type: active persons of the day and the denominator of adoption.
    Dimension(DIM_APP, _app, "''", "''", "''", "TRUE"),
)

GRANULARITY_MINUTE = "minute"
GRANULARITY_DAY = "day"


# The catalogue's day metrics (featurepulse/domain/metrics.py) and the counters of the day rows that hold them:
# on the app row (`pk` APP) for the whole product, on a feature's rows (feature, campaign, variant) otherwise.
CATALOGUE_COUNTERS: dict[str, str] = {
    "active_persons": "persons",  # app row
    "feature_viewers": "persons_view",
    "adopters": "adopters",
    "completers": "persons_complete",
}


def evaluate_counters(events: Sequence[EngagementEvent]) -> dict[str, int]:
    return {m.name: m.evaluate(events) for m in COUNTERS}


def evaluate_histogram(events: Sequence[EngagementEvent]) -> list[int]:
    return [m.evaluate(events) for m in HISTOGRAM]
