"""What the report says, computed from the query results: headline KPIs with their change against the
previous period, and the tables in the order the e-mail shows them. Pure: no engine, no AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from featurepulse.domain.metrics import metric
from featurepulse.reporting.experiments import ExperimentResult, analyse_experiments
from featurepulse.reporting.experiments_config import ExperimentsConfig, experiment_query_parameters
from featurepulse.reporting.periods import Period
from featurepulse.reporting.queries import QUERY_NAMES, ParameterValue
from featurepulse.reporting.runners import QueryResult, QueryRunner

KpiFormat = Literal["count", "rate"]
# Queries also run for the previous period, for the "change vs previous period" of the headline.
PREVIOUS_PERIOD_QUERIES: tuple[str, ...] = ("period_summary", "active_users_daily")
# The headline KPIs from period_summary, in the order the e-mail shows them (then MAU of the last day).
HEADLINE_METRICS: tuple[str, ...] = ("active_persons", "adopters", "adoption_rate", "completers", "completion_rate")


@dataclass(frozen=True)
class Kpi:
    label: str
    value: float | None
    previous: float | None
    format: KpiFormat = "count"

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

    def rows(self, name: str) -> tuple[dict[str, Any], ...]:
        return self.results[name].rows

    @property
    def bytes_scanned(self) -> int | None:
        values = [r.bytes_scanned for r in (*self.results.values(), *self.previous_results.values())]
        known = [v for v in values if v is not None]
        return sum(known) if known else None


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
    """The headline: persons, adoption and completion of the period, and MAU on its last day. Labels and
    formats come from the metric catalogue (featurepulse/domain/metrics.py); the columns carry its names."""
    now, before = _first(summary), _first(previous_summary)

    def kpi(name: str) -> Kpi:
        m = metric(name)
        return Kpi(m.label, now.get(name), before.get(name), "rate" if m.unit == "rate" else "count")

    mau = metric("mau")
    return (
        *(kpi(name) for name in HEADLINE_METRICS),
        Kpi(mau.label, _last(active_users).get(mau.name), _last(previous_active_users).get(mau.name)),
    )


def collect(
    runner: QueryRunner,
    period: Period,
    *,
    min_exposed_per_variant: int,
    now: datetime,
    experiments: ExperimentsConfig | None = None,
) -> ReportData:
    """Run every report query for the period (and the headline ones for the previous period)."""
    experiments = experiments or ExperimentsConfig({})
    params: dict[str, ParameterValue] = dict(period.query_parameters(min_exposed_per_variant))
    params.update(experiment_query_parameters(experiments, period.start))
    previous_params: dict[str, ParameterValue] = dict(period.previous().query_parameters(min_exposed_per_variant))
    results = {name: runner.run(name, params) for name in QUERY_NAMES}
    previous = {name: runner.run(name, previous_params) for name in PREVIOUS_PERIOD_QUERIES}
    kpis = headline_kpis(
        results["period_summary"].rows,
        previous["period_summary"].rows,
        results["active_users_daily"].rows,
        previous["active_users_daily"].rows,
    )
    verdicts = analyse_experiments(results["experiment_results"].rows, experiments, min_exposed=min_exposed_per_variant)
    return ReportData(
        period=period,
        generated_at=now,
        engine=runner.engine,
        kpis=kpis,
        results=results,
        previous_results=previous,
        experiments=verdicts,
    )


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
