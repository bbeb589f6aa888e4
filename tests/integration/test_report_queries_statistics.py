"""experiment_results.sql on DuckDB, then the statistics of featurepulse/reporting/experiments.py: experiments
built from chosen counts come out with those counts, the always-valid test of those counts, and the verdict.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from featurepulse.local.duckdb_runner import DuckDbQueryRunner, normal_cdf
from featurepulse.reporting.experiments import (
    VERDICT_COLLECTING,
    VERDICT_CONTROL,
    VERDICT_NO_DIFFERENCE,
    VERDICT_SRM,
    Arm,
    ExperimentResult,
    analyse_experiments,
    sequential_look,
)
from featurepulse.reporting.experiments_config import experiment_query_parameters, parse_experiments
from featurepulse.reporting.periods import Period
from tests.reporting_dataset import REPORT_DAY, make_event, write_lake

MIN_EXPOSED = 100
PERIOD = Period.containing("day", REPORT_DAY)
# experiment id -> (control exposed, control converted, treatment exposed, treatment converted)
CASES: dict[str, tuple[int, int, int, int]] = {
    "clear-win": (1000, 100, 1000, 200),
    "clear-loss": (1000, 200, 1000, 100),
    "no-difference": (600, 90, 600, 96),
    "small-sample": (60, 10, 55, 20),
    "zero-conversions": (500, 40, 500, 0),
    "nobody-converts": (150, 0, 150, 0),
    "everybody-converts": (120, 120, 130, 130),
    "ratio-mismatch": (1000, 100, 1300, 260),
}
VERDICTS = {
    "clear-win": "treatment better than control",
    "clear-loss": "treatment worse than control",
    "no-difference": VERDICT_NO_DIFFERENCE,
    "small-sample": VERDICT_COLLECTING,
    "zero-conversions": "treatment worse than control",  # zero conversions, yet enough data to tell
    "nobody-converts": VERDICT_COLLECTING,
    "everybody-converts": VERDICT_COLLECTING,
    "ratio-mismatch": VERDICT_SRM,  # a clear win on its face, from a broken 50/50 assignment
}


def experiment_rows(experiment: str, variant: str, exposed: int, converted: int) -> list[dict[str, Any]]:
    """Persons exposed to the variant; the first `converted` complete the experiment's feature afterwards."""
    rows = []
    start = datetime(REPORT_DAY.year, REPORT_DAY.month, REPORT_DAY.day, 8)
    for i in range(exposed):
        person = f"{experiment}-{variant}-{i}"
        at = start + timedelta(seconds=i)
        rows.append(make_event(f"{person}-x", person, at, event="Experiment Viewed", experiment=(experiment, variant)))
        # Every exposed person views the feature under test: its events carry the experiment (the default goal).
        rows.append(
            make_event(
                f"{person}-v",
                person,
                at + timedelta(seconds=1),
                event="Feature Viewed",
                feature="f",
                stage="view",
                experiment=(experiment, variant),
            )
        )
        if i < converted:
            rows.append(
                make_event(
                    f"{person}-c",
                    person,
                    at + timedelta(minutes=1),
                    event="Feature Completed",
                    feature="f",
                    stage="complete",
                    experiment=(experiment, variant),
                )
            )
        elif i == converted:  # a completion before the exposure does not count
            rows.append(
                make_event(
                    f"{person}-early",
                    person,
                    at - timedelta(minutes=1),
                    event="Feature Completed",
                    feature="f",
                    stage="complete",
                )
            )
    return rows


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExperimentResult]:
    rows: list[dict[str, Any]] = []
    for experiment, (nc, xc, nt, xt) in CASES.items():
        rows += experiment_rows(experiment, "control", nc, xc)
        rows += experiment_rows(experiment, "treatment", nt, xt)
    lake: Path = tmp_path_factory.mktemp("lake")
    write_lake(lake, rows)
    runner = DuckDbQueryRunner(lake)
    config = parse_experiments(None)
    params = {**PERIOD.query_parameters(MIN_EXPOSED), **experiment_query_parameters(config, PERIOD.start)}
    query_rows = runner.run("experiment_results", params).rows
    runner.close()
    return {e.experiment_id: e for e in analyse_experiments(query_rows, config, min_exposed=MIN_EXPOSED)}


@pytest.mark.parametrize("experiment", CASES)
def test_counts_and_always_valid_statistics_from_the_query(
    results: dict[str, ExperimentResult], experiment: str
) -> None:
    # Given an experiment with known counts, When experiment_results runs and the statistics are computed
    nc, xc, nt, xt = CASES[experiment]
    result = results[experiment]
    control, treatment = result.variants
    # Then the counts are the chosen ones (persons; the early completion does not count)
    assert (control.variation_id, control.exposed, control.converted) == ("control", nc, xc)
    assert (treatment.variation_id, treatment.exposed, treatment.converted) == ("treatment", nt, xt)
    assert result.goal.label == "completing f (the experiment's own feature)"
    # And the interval and p-value are the mSPRT of those counts (one look: one day)
    look = sequential_look(Arm(nc, xc), Arm(nt, xt))
    if VERDICTS[experiment] == VERDICT_COLLECTING:
        assert treatment.p_value is None and treatment.ci_low is None
    else:
        assert look is not None
        assert treatment.p_value == pytest.approx(look.p_value, rel=1e-12)
        assert (treatment.ci_low, treatment.ci_high) == pytest.approx((look.ci_low, look.ci_high), rel=1e-12)
        # which is never more confident than scipy's fixed-horizon test of the same table (peeking costs)
        _, fixed_p, _, _ = stats.chi2_contingency([[xc, nc - xc], [xt, nt - xt]], correction=False)
        assert treatment.p_value >= fixed_p


@pytest.mark.parametrize("experiment", CASES)
def test_verdict(results: dict[str, ExperimentResult], experiment: str) -> None:
    control, treatment = results[experiment].variants
    assert treatment.verdict == VERDICTS[experiment]
    assert control.verdict == VERDICT_CONTROL and control.is_control


def test_sample_ratio_check_against_scipy(results: dict[str, ExperimentResult]) -> None:
    # Given 1000 vs 1300 exposed under the default equal split
    srm = results["ratio-mismatch"].srm
    assert srm is not None
    # Then the check is scipy's chi-square goodness of fit, flagged below p = 0.001
    reference = stats.chisquare([1000, 1300])
    assert srm.p_value == pytest.approx(reference.pvalue, rel=1e-9) and srm.flagged
    healthy = results["clear-win"].srm
    assert healthy is not None and healthy.p_value == 1.0 and not healthy.flagged


@pytest.mark.parametrize("z", [-4.0, -1.96, -0.5, 0.0, 0.3, 1.0, 2.5, 6.0])
def test_duckdb_normal_cdf_is_trinos(z: float) -> None:
    assert normal_cdf(0.0, 1.0, z) == pytest.approx(stats.norm.cdf(z), rel=1e-12, abs=1e-15)
    assert normal_cdf(10.0, 2.0, z) == pytest.approx(stats.norm.cdf(z, loc=10.0, scale=2.0), rel=1e-9, abs=1e-15)
    assert math.isfinite(normal_cdf(0.0, 1.0, z))
