"""experiment_results.sql: the statistics checked against scipy, on experiments built from chosen counts."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from featurepulse.reporting.duckdb_runner import DuckDbQueryRunner, normal_cdf
from featurepulse.reporting.periods import Period
from tests.reporting_dataset import REPORT_DAY, make_event, write_lake

MIN_EXPOSED = 100
# experiment id -> (control exposed, control converted, treatment exposed, treatment converted)
CASES: dict[str, tuple[int, int, int, int]] = {
    "clear-win": (400, 40, 400, 80),
    "clear-loss": (500, 100, 480, 60),
    "no-difference": (300, 45, 310, 48),
    "small-sample": (60, 10, 55, 20),
    "zero-conversions": (200, 12, 210, 0),
    "nobody-converts": (150, 0, 150, 0),
    "everybody-converts": (120, 120, 130, 130),
}


def experiment_rows(experiment: str, variant: str, exposed: int, converted: int) -> list[dict[str, Any]]:
    rows = []
    start = datetime(REPORT_DAY.year, REPORT_DAY.month, REPORT_DAY.day, 8)
    for i in range(exposed):
        user = f"{experiment}-{variant}-{i}"
        at = start + timedelta(seconds=i)
        rows.append(make_event(f"{user}-x", user, at, event="Experiment Viewed", experiment=(experiment, variant)))
        if i < converted:
            rows.append(
                make_event(
                    f"{user}-c",
                    user,
                    at + timedelta(minutes=1),
                    event="Feature Completed",
                    feature="f",
                    stage="complete",
                )
            )
        elif i == converted:  # a completion before the exposure does not count
            rows.append(
                make_event(
                    f"{user}-early",
                    user,
                    at - timedelta(minutes=1),
                    event="Feature Completed",
                    feature="f",
                    stage="complete",
                )
            )
    return rows


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for experiment, (nc, xc, nt, xt) in CASES.items():
        rows += experiment_rows(experiment, "control", nc, xc)
        rows += experiment_rows(experiment, "treatment", nt, xt)
    lake: Path = tmp_path_factory.mktemp("lake")
    write_lake(lake, rows)
    runner = DuckDbQueryRunner(lake)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in runner.run(
        "experiment_results", Period.containing("day", REPORT_DAY).query_parameters(MIN_EXPOSED)
    ).rows:
        out.setdefault(row["experiment_id"], {})[row["variation_id"]] = row
    runner.close()
    return out


def scipy_reference(nc: int, xc: int, nt: int, xt: int) -> dict[str, float | None]:
    pc, pt = xc / nc, xt / nt
    pooled = (xc + xt) / (nc + nt)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / nt))
    unpooled_se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    z95 = stats.norm.ppf(0.975)
    z = (pt - pc) / pooled_se if pooled_se > 0 else None
    return {
        "uplift_abs": pt - pc,
        "uplift_ci_low": pt - pc - z95 * unpooled_se,
        "uplift_ci_high": pt - pc + z95 * unpooled_se,
        "z_score": z,
        "p_value": 2 * stats.norm.sf(abs(z)) if z is not None else None,
    }


@pytest.mark.parametrize("experiment", CASES)
def test_uplift_ci_and_p_value_match_scipy(results: dict[str, dict[str, dict[str, Any]]], experiment: str) -> None:
    # Given an experiment with known counts, When experiment_results runs
    nc, xc, nt, xt = CASES[experiment]
    treatment = results[experiment]["treatment"]
    # Then the counts are the chosen ones and every statistic equals scipy's
    assert (treatment["exposed"], treatment["converted"]) == (nt, xt)
    assert (results[experiment]["control"]["exposed"], results[experiment]["control"]["converted"]) == (nc, xc)
    for column, value in scipy_reference(nc, xc, nt, xt).items():
        if value is None:
            assert treatment[column] is None, column
        else:
            assert treatment[column] == pytest.approx(value, rel=1e-9, abs=1e-12), column


@pytest.mark.parametrize("experiment", ["clear-win", "clear-loss", "no-difference"])
def test_p_value_equals_the_chi_square_test_of_the_2x2_table(
    results: dict[str, dict[str, dict[str, Any]]], experiment: str
) -> None:
    # The two-sided two-proportion z-test is the chi-square test without continuity correction.
    nc, xc, nt, xt = CASES[experiment]
    _, p_value, _, _ = stats.chi2_contingency([[xc, nc - xc], [xt, nt - xt]], correction=False)
    assert results[experiment]["treatment"]["p_value"] == pytest.approx(p_value, rel=1e-9)


@pytest.mark.parametrize(
    ("experiment", "verdict"),
    [
        ("clear-win", "better than control"),
        ("clear-loss", "worse than control"),
        ("no-difference", "no significant difference"),
        ("small-sample", "not enough data"),
        ("zero-conversions", "worse than control"),  # zero conversions, yet enough data to tell
        ("nobody-converts", "not enough data"),
        ("everybody-converts", "not enough data"),
    ],
)
def test_verdict(results: dict[str, dict[str, dict[str, Any]]], experiment: str, verdict: str) -> None:
    assert results[experiment]["treatment"]["verdict"] == verdict
    assert results[experiment]["control"]["verdict"] == "control"


def test_relative_uplift_is_null_when_control_converts_nobody(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    assert results["nobody-converts"]["treatment"]["uplift_rel"] is None
    assert results["clear-win"]["treatment"]["uplift_rel"] == pytest.approx(1.0)


@pytest.mark.parametrize("z", [-4.0, -1.96, -0.5, 0.0, 0.3, 1.0, 2.5, 6.0])
def test_duckdb_normal_cdf_is_trinos(z: float) -> None:
    assert normal_cdf(0.0, 1.0, z) == pytest.approx(stats.norm.cdf(z), rel=1e-12, abs=1e-15)
    assert normal_cdf(10.0, 2.0, z) == pytest.approx(stats.norm.cdf(z, loc=10.0, scale=2.0), rel=1e-9, abs=1e-15)
