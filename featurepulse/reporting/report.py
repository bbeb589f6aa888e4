"""What the report says, computed from the query results: headline KPIs with their change against the
previous period, and the tables in the order the e-mail shows them. Pure: no engine, no AWS.

Two states of a period matter to the reader (docs/reports.md, "Partial and empty periods"): a period not over
when the report runs is **partial** (`ReportData.data_until` is the run's time), and a period without any event
is **empty** (`ReportData.is_empty`: the job sends nothing). Against a previous period without any event every
change reads "no previous data", counts and rates alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from featurepulse.domain.goals import TREND_DAYS, GoalsConfig, GoalStatus, daily_goal_values, goal_status
from featurepulse.domain.metrics import metric
from featurepulse.reporting.audiences import (
    TRAITS_TABLE,
    Audience,
    AudienceFile,
    audience_traits_table,
    build_audiences,
)
from featurepulse.reporting.campaigns import CampaignComparison, rank_campaigns, spend_by_campaign
from featurepulse.reporting.experiments import ExperimentResult, analyse_experiments
from featurepulse.reporting.experiments_config import ExperimentsConfig, experiment_query_parameters
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import QUERY_NAMES, InlineTable, ParameterValue
from featurepulse.reporting.runners import QueryResult, QueryRunner

KpiFormat = Literal["count", "rate"]
# Queries also run for the previous period, for the "change vs previous period" of the headline.
PREVIOUS_PERIOD_QUERIES: tuple[str, ...] = ("period_summary", "active_users_daily")
# The headline KPIs from period_summary, in the order the e-mail shows them (then MAU of the last day).
HEADLINE_METRICS: tuple[str, ...] = ("active_persons", "adopters", "adoption_rate", "completers", "completion_rate")
# Adoption by segment: the trait whose values are the segments (CDK context `reportSegmentTrait`).
DEFAULT_SEGMENT_TRAIT = "plan"
SEGMENT_TABLE = "report_segment"  # the inline table feature_adoption_by_segment.sql reads the trait from
# Query results that stay out of the e-mail's attachments: the audiences' persons go to their own files.
NOT_ATTACHED: tuple[str, ...] = ("feature_audiences",)
SPEND_QUERY = "campaign_spend_totals"


@dataclass(frozen=True)
class Kpi:
    label: str
    value: float | None
    previous: float | None  # None: no previous data (the previous period had no event)
    format: KpiFormat = "count"
    meaning: str = ""  # the catalogue's one sentence (featurepulse/domain/metrics.py)

    @property
    def change(self) -> float | None:
        """Absolute change (for a rate: in percentage points / 100)."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def relative_change(self) -> float | None:
        if self.change is None or not self.previous:
            return None
        return self.change / self.previous


@dataclass(frozen=True)
class ReportData:
    period: Period
    generated_at: datetime
    engine: str
    kpis: tuple[Kpi, ...]
    results: Mapping[str, QueryResult]  # current period, by query name
    previous_results: Mapping[str, QueryResult] = field(default_factory=dict)
    # Verdicts computed from results["experiment_results"] (docs/experiments.md).
    experiments: tuple[ExperimentResult, ...] = ()
    # The run's time when the period was not over yet (a partial report); None: the period is complete.
    data_until: datetime | None = None
    # Experiments: persons per variant before a verdict is attempted (the "not enough data yet" text says it).
    min_exposed_per_variant: int = 100
    segment_trait: str = DEFAULT_SEGMENT_TRAIT
    audience_traits: tuple[str, ...] = (DEFAULT_SEGMENT_TRAIT,)
    goals: tuple[GoalStatus, ...] = ()  # each configured goal's status (featurepulse/domain/goals.py)
    campaigns: tuple[CampaignComparison, ...] = ()  # the campaign ranking (featurepulse/reporting/campaigns.py)
    audiences: tuple[Audience, ...] = ()  # both audiences of every feature of the period
    # Where the job wrote each audience (set by the job before the e-mail is built; empty: not written).
    audience_files: tuple[AudienceFile, ...] = ()

    def rows(self, name: str) -> tuple[dict[str, Any], ...]:
        return self.results[name].rows

    @property
    def partial(self) -> bool:
        return self.data_until is not None

    @property
    def events(self) -> int:
        """Events of the period (each counted once); 0 when the summary has no row."""
        return period_events(self.results["period_summary"].rows)

    @property
    def is_empty(self) -> bool:
        """No event in the period: nothing to report (the job does not send it)."""
        return self.events == 0

    @property
    def previous_is_empty(self) -> bool:
        """The previous period had no event: its figures are "no previous data", not zeros."""
        previous = self.previous_results.get("period_summary")
        return previous is None or period_events(previous.rows) == 0

    @property
    def bytes_scanned(self) -> int | None:
        values = [r.bytes_scanned for r in (*self.results.values(), *self.previous_results.values())]
        known = [v for v in values if v is not None]
        return sum(known) if known else None


def period_over_at(period: Period) -> datetime:
    """When the period is over: midnight UTC after its last day (report days are UTC days, like the lake)."""
    return datetime.combine(period.end + timedelta(days=1), time(), tzinfo=UTC)


def partial_until(period: Period, now: datetime) -> datetime | None:
    """`now` (UTC) when the period is not over at `now` (a partial report), else None. A naive `now` is UTC."""
    utc_now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return utc_now if utc_now < period_over_at(period) else None


def period_events(summary: Sequence[Mapping[str, Any]]) -> int:
    return int(_first(summary).get("events") or 0)


def _first(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return rows[0] if rows else {}


def _last(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return rows[-1] if rows else {}


def headline_kpis(
    summary: Sequence[Mapping[str, Any]],
    previous_summary: Sequence[Mapping[str, Any]],
    active_users: Sequence[Mapping[str, Any]],
    previous_active_users: Sequence[Mapping[str, Any]],
) -> tuple[Kpi, ...]:
    """The headline: persons, adoption and completion of the period, and MAU on its last day. Labels, meanings
    and formats come from the metric catalogue (featurepulse/domain/metrics.py); the columns carry its names.

    A previous period without any event has no previous figures at all: its zero counts would otherwise show
    as "+399" beside rates that (dividing by zero) say "no previous data".
    """
    now = _first(summary)
    has_previous = period_events(previous_summary) > 0
    before = _first(previous_summary) if has_previous else {}
    previous_last_day = _last(previous_active_users) if has_previous else {}

    def kpi(name: str, current: Mapping[str, Any], previous: Mapping[str, Any]) -> Kpi:
        m = metric(name)
        unit: KpiFormat = "rate" if m.unit == "rate" else "count"
        return Kpi(m.label, current.get(name), previous.get(name), unit, m.meaning)

    return (
        *(kpi(name, now, before) for name in HEADLINE_METRICS),
        kpi("mau", _last(active_users), previous_last_day),
    )


def goal_statuses(runner: QueryRunner, goals: GoalsConfig, as_of: date) -> tuple[GoalStatus, ...]:
    """Each goal's status on `as_of` from the daily values of the trend's days (featurepulse/domain/goals.py):
    feature_adoption_daily over those days, and their active persons (the `dau` of active_users_daily, whose
    look-back is bound to the same days: WAU and MAU are not read)."""
    if not goals.root:
        return ()
    first = as_of - timedelta(days=TREND_DAYS - 1)
    params: dict[str, ParameterValue] = {"start_date": first, "end_date": as_of, "lookback_start_date": first}
    adoption = runner.run("feature_adoption_daily", params).rows
    active = {_as_date(r["day"]): int(r["dau"] or 0) for r in runner.run("active_users_daily", params).rows}
    return tuple(goal_status(g, daily_goal_values(g, adoption, active), as_of) for g in goals.root)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


def collect(
    runner: QueryRunner,
    period: Period,
    *,
    min_exposed_per_variant: int,
    now: datetime,
    experiments: ExperimentsConfig | None = None,
    segment_trait: str = DEFAULT_SEGMENT_TRAIT,
    audience_traits: tuple[str, ...] = (DEFAULT_SEGMENT_TRAIT,),
    goals: GoalsConfig | None = None,
) -> ReportData:
    """Run every report query for the period (and the headline ones for the previous period)."""
    experiments = experiments or ExperimentsConfig({})
    params: dict[str, ParameterValue] = dict(period.query_parameters(min_exposed_per_variant))
    params.update(experiment_query_parameters(experiments, period.start))
    params[SEGMENT_TABLE] = InlineTable(("segment_trait",), ((segment_trait,),))
    params[TRAITS_TABLE] = audience_traits_table(audience_traits)
    previous_params: dict[str, ParameterValue] = dict(period.previous().query_parameters(min_exposed_per_variant))
    results = {name: runner.run(name, params) for name in QUERY_NAMES}
    previous = {name: runner.run(name, previous_params) for name in PREVIOUS_PERIOD_QUERIES}
    spend = runner.run(SPEND_QUERY, {})
    kpis = headline_kpis(
        results["period_summary"].rows,
        previous["period_summary"].rows,
        results["active_users_daily"].rows,
        previous["active_users_daily"].rows,
    )
    verdicts = analyse_experiments(results["experiment_results"].rows, experiments, min_exposed=min_exposed_per_variant)
    features = {str(r["feature"]) for r in results["feature_adoption_daily"].rows}
    return ReportData(
        period=period,
        generated_at=now,
        engine=runner.engine,
        kpis=kpis,
        results=results,
        previous_results=previous,
        experiments=verdicts,
        data_until=partial_until(period, now),
        min_exposed_per_variant=min_exposed_per_variant,
        segment_trait=segment_trait,
        audience_traits=audience_traits,
        goals=goal_statuses(runner, goals or GoalsConfig(()), period.end),
        campaigns=rank_campaigns(results["campaign_attribution"].rows, spend_by_campaign(spend.rows)),
        audiences=build_audiences(results["feature_audiences"].rows, features),
    )


GOAL_TREND_COLUMNS: tuple[str, ...] = ("goal", "metric", "feature", "target", "deadline", "day", "value", "state")


def goal_trends_table(goals: Sequence[GoalStatus]) -> QueryResult:
    """Each goal's daily values over its trend (the e-mail's sparkline, in numbers) and its status: the
    `goal_trends` CSV attachment."""
    rows = tuple(
        {
            "goal": g.goal.label,
            "metric": g.goal.metric,
            "feature": g.goal.feature,
            "target": g.goal.target,
            "deadline": g.goal.deadline,
            "day": day,
            "value": value,
            "state": g.state,
        }
        for g in goals
        for day, value in g.trend
    )
    return QueryResult(name="goal_trends", columns=GOAL_TREND_COLUMNS, rows=rows)


def retention_by_horizon(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Retention per feature and horizon over all cohorts of the period (cohort-size weighted)."""
    totals: dict[tuple[str, int], list[int]] = {}
    for row in rows:
        key = (str(row["feature"]), int(row["horizon_days"]))
        total = totals.setdefault(key, [0, 0, 0])
        total[0] += int(row["cohort_adopters"])
        total[1] += int(row["retained_adopters"])
        total[2] += int(row["returning_adopters"])
    return [
        {
            "feature": feature,
            "horizon_days": horizon,
            "cohort_adopters": c,
            "retention_rate": r / c if c else None,
            "feature_retention_rate": f / c if c else None,
        }
        for (feature, horizon), (c, r, f) in sorted(totals.items())
    ]
