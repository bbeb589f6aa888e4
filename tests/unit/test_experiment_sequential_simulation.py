"""Simulations: the sequential test read every day keeps its error rates; the old fixed-horizon test does not.

Seeded and pure arithmetic on binomial counts (numpy draws the counts, the shipped code does the statistics):
400 experiments x 30 daily looks run in well under a second.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from featurepulse.reporting.experiments import ALPHA, Arm, compare_variant, sequential_look

RUNS = 400
DAYS = 30
PERSONS_PER_DAY = 400  # both arms together, assigned 50/50 at random


def daily_looks(
    rng: np.random.Generator, control_rate: float, treatment_rate: float, share: float = 0.5
) -> list[tuple[Arm, Arm]]:
    """Cumulative (control, treatment) counts at the end of each day of one simulated experiment."""
    treated = rng.binomial(PERSONS_PER_DAY, share, size=DAYS)
    control = PERSONS_PER_DAY - treated
    control_conversions = np.cumsum(rng.binomial(control, control_rate))
    treated_conversions = np.cumsum(rng.binomial(treated, treatment_rate))
    control_exposed, treated_exposed = np.cumsum(control), np.cumsum(treated)
    return [
        (
            Arm(int(control_exposed[d]), int(control_conversions[d])),
            Arm(int(treated_exposed[d]), int(treated_conversions[d])),
        )
        for d in range(DAYS)
    ]


def simulate(seed: int, control_rate: float, treatment_rate: float, share: float = 0.5) -> list[list[tuple[Arm, Arm]]]:
    rng = np.random.default_rng(seed)
    return [daily_looks(rng, control_rate, treatment_rate, share) for _ in range(RUNS)]


def fixed_horizon_p(control: Arm, treatment: Arm) -> float:
    """The two-proportion z-test (pooled) that experiment_results.sql used to re-run on every report."""
    pooled = (control.converted + treatment.converted) / (control.exposed + treatment.exposed)
    se = math.sqrt(pooled * (1 - pooled) * (1 / control.exposed + 1 / treatment.exposed))
    difference = treatment.converted / treatment.exposed - control.converted / control.exposed
    return float(2 * stats.norm.sf(abs(difference / se)))


@pytest.mark.parametrize(
    ("seed", "rate", "share"), [(20261204, 0.10, 0.5), (7, 0.30, 0.5), (42, 0.03, 0.5), (1, 0.10, 0.1)]
)
def test_a_a_experiments_read_daily_stay_below_five_percent_false_positives(
    seed: int, rate: float, share: float
) -> None:
    # Given 400 A/A experiments (both arms convert at the same rate; the last with a 90/10 split), each read on
    # 30 consecutive days
    runs = simulate(seed, rate, rate, share)
    # When an analyst stops at the first day the always-valid p-value falls below 5 %
    false_positives = 0
    for looks in runs:
        result = compare_variant(looks)
        false_positives += result is not None and result.first_significant_look is not None
    # Then at most 5 % of the experiments ever declare a difference
    assert false_positives / RUNS <= ALPHA


@pytest.mark.parametrize(("seed", "rate"), [(20261204, 0.10), (7, 0.30)])
def test_the_fixed_horizon_z_test_read_daily_exceeds_five_percent_on_the_same_simulation(
    seed: int, rate: float
) -> None:
    # Given the same seeded A/A experiments
    runs = simulate(seed, rate, rate)
    # When the old fixed-horizon z-test is re-run on every daily report and the analyst stops at p < 0.05
    false_positives = sum(any(fixed_horizon_p(c, t) < ALPHA for c, t in looks) for looks in runs)
    # Then far more than 5 % of the experiments declare a difference: peeking breaks it (the check can fail)
    assert false_positives / RUNS > 2 * ALPHA


def test_confidence_sequences_cover_the_true_difference_at_every_look() -> None:
    # Given 400 experiments with a real difference of 2 points (10 % vs 12 %)
    runs = simulate(99, 0.10, 0.12)
    true_difference = 0.02
    # When each daily interval is checked against the truth
    missed = 0
    for looks in runs:
        intervals = [sequential_look(c, t) for c, t in looks]
        missed += any(i is not None and not i.ci_low <= true_difference <= i.ci_high for i in intervals)
    # Then the intervals hold simultaneously over all 30 looks in at least 95 % of the experiments
    assert missed / RUNS <= ALPHA


def test_a_real_effect_is_found_and_given_the_right_direction() -> None:
    # Given 400 experiments where the treatment converts 13 % against 10 %
    runs = simulate(5, 0.10, 0.13)
    # When each is read daily for 30 days
    results = [compare_variant(looks) for looks in runs]
    # Then nearly all end with the treatment better (the interval above 0) and none with it worse
    better = sum(r is not None and r.ci_low > 0 for r in results)
    worse = sum(r is not None and r.ci_high < 0 for r in results)
    assert better / RUNS >= 0.9
    assert worse == 0
