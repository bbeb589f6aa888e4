"""The experiment statistics (featurepulse/reporting/experiments.py) against scipy."""

from __future__ import annotations

import math

import pytest
from scipy import integrate, stats

from featurepulse.reporting.experiments import (
    ALPHA,
    RHO2,
    SRM_ALPHA,
    TUNED_FOR_PERSONS,
    Arm,
    always_valid,
    chi_square_sf,
    mixture_likelihood_ratio,
    mixture_rho2,
    normal_sf,
    sequential_look,
    srm_check,
)

# --- chi-square and the SRM check ------------------------------------------------------------------


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 30])
@pytest.mark.parametrize("statistic", [0.0, 1e-6, 0.02, 0.5, 1.0, 3.84, 7.5, 10.47, 16.0, 40.0, 120.0])
def test_chi_square_survival_function_equals_scipys(statistic: float, df: int) -> None:
    # Given a statistic and degrees of freedom, Then the tail probability is scipy's to 1e-12 (relative)
    assert chi_square_sf(statistic, df) == pytest.approx(stats.chi2.sf(statistic, df), rel=1e-10, abs=1e-300)


@pytest.mark.parametrize("z", [-5.0, -1.96, 0.0, 0.7, 2.5, 8.0])
def test_normal_survival_function_equals_scipys(z: float) -> None:
    assert normal_sf(z) == pytest.approx(stats.norm.sf(z), rel=1e-12)


@pytest.mark.parametrize(
    ("exposed", "split"),
    [
        ({"A": 1000, "B": 1150}, None),
        ({"A": 480, "B": 520}, {"A": 1, "B": 1}),
        ({"control": 900, "treatment": 310}, {"control": 75, "treatment": 25}),
        ({"a": 330, "b": 301, "c": 369}, None),
        ({"a": 200, "b": 410, "c": 390}, {"a": 0.2, "b": 0.4, "c": 0.4}),
    ],
)
def test_srm_statistic_and_p_value_equal_scipy_chisquare(
    exposed: dict[str, int], split: dict[str, float] | None
) -> None:
    # Given exposed persons per variant and a split, When the SRM check runs
    check = srm_check(exposed, split)
    assert check is not None
    # Then statistic and p-value are scipy's goodness-of-fit test against the split
    variants = sorted(exposed)
    weights = split or dict.fromkeys(exposed, 1.0)
    total = sum(exposed.values())
    expected = [weights[v] / sum(weights.values()) * total for v in variants]
    reference = stats.chisquare([exposed[v] for v in variants], expected)
    assert check.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert check.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert check.degrees_of_freedom == len(variants) - 1
    assert check.flagged == (reference.pvalue < SRM_ALPHA)


def test_a_clear_sample_ratio_mismatch_is_flagged_and_a_small_imbalance_is_not() -> None:
    # Given a 50/50 split
    split = {"A": 50, "B": 50}
    # When 1000 vs 1200 persons were exposed, Then the check flags it
    flagged = srm_check({"A": 1000, "B": 1200}, split)
    assert flagged is not None and flagged.flagged and flagged.p_value < 1e-4  # p = 2.0e-5
    # When 1000 vs 1010, Then it does not
    fine = srm_check({"A": 1000, "B": 1010}, split)
    assert fine is not None and not fine.flagged and fine.p_value > 0.8
    # And 1000 vs 1150 is suspicious but just above the p < 0.001 rule (p = 0.0012): not flagged
    borderline = srm_check({"A": 1000, "B": 1150}, split)
    assert borderline is not None and not borderline.flagged
    assert borderline.p_value == pytest.approx(0.001216, rel=1e-3)


def test_srm_against_an_unequal_split_flags_an_equal_outcome() -> None:
    # Given a 90/10 split, When the variants came out equal, Then that is a mismatch
    check = srm_check({"A": 500, "B": 500}, {"A": 90, "B": 10})
    assert check is not None and check.flagged
    # And 900/100 under the same split is not
    ok = srm_check({"A": 900, "B": 100}, {"A": 90, "B": 10})
    assert ok is not None and not ok.flagged


def test_a_variant_outside_the_split_or_missing_from_it_is_a_mismatch() -> None:
    # Given a split naming A and B, When someone was exposed to C, Then the check flags it with p = 0
    unexpected = srm_check({"A": 500, "B": 500, "C": 3}, {"A": 1, "B": 1})
    assert unexpected is not None and unexpected.flagged and unexpected.p_value == 0.0
    # When B was configured but nobody saw it, Then B counts as 0 exposed
    missing = srm_check({"A": 500}, {"A": 1, "B": 1})
    assert missing is not None and missing.flagged and missing.expected_shares == {"A": 0.5, "B": 0.5}


def test_nothing_to_check_with_a_single_variant_or_nobody_exposed() -> None:
    assert srm_check({"A": 100}) is None
    assert srm_check({"A": 0, "B": 0}) is None


# --- the mixture sequential test -------------------------------------------------------------------


def test_rho2_is_the_stated_constant_and_the_sequence_is_narrowest_at_the_tuned_sample() -> None:
    # Then rho^2 = (-2 log alpha + log(1 - 2 log alpha)) / N*
    a = -2 * math.log(ALPHA)
    assert pytest.approx((a + math.log(1 + a)) / TUNED_FOR_PERSONS, rel=1e-12) == RHO2 == mixture_rho2()

    def width_over_se(n: int) -> float:
        r = RHO2 * n
        return math.sqrt((1 + r) / r * (2 * math.log(1 / ALPHA) + math.log1p(r)))

    # And the half-width in standard errors is smallest near N* (a minimum over the sample size)
    tuned = width_over_se(TUNED_FOR_PERSONS)
    assert tuned < width_over_se(TUNED_FOR_PERSONS // 2) and tuned < width_over_se(TUNED_FOR_PERSONS * 2)
    look = sequential_look(Arm(5_000, 500), Arm(5_000, 560))
    assert look is not None and (look.ci_high - look.difference) / look.standard_error == pytest.approx(tuned)


@pytest.mark.parametrize("z", [0.0, 0.8, 1.96, 2.8, 4.0])
@pytest.mark.parametrize("r", [0.05, 1.0, 7.9, 80.0])
def test_mixture_likelihood_ratio_is_the_normal_mixture_integral(z: float, r: float) -> None:
    # Given theta_hat ~ N(theta, V) with V = 1 and the mixture theta ~ N(0, tau^2 = r)
    def likelihood_ratio(theta: float) -> float:
        return float(stats.norm.pdf(z, loc=theta) / stats.norm.pdf(z, loc=0.0))

    integral, _ = integrate.quad(
        lambda theta: likelihood_ratio(theta) * stats.norm.pdf(theta, scale=math.sqrt(r)), -math.inf, math.inf
    )
    # Then the closed form equals the integral computed numerically by scipy
    assert mixture_likelihood_ratio(z, r) == pytest.approx(integral, rel=1e-7)


def wald(control: Arm, treatment: Arm) -> tuple[float, float]:
    pc, pt = control.converted / control.exposed, treatment.converted / treatment.exposed
    return pt - pc, math.sqrt(pc * (1 - pc) / control.exposed + pt * (1 - pt) / treatment.exposed)


CASES = [
    (Arm(400, 40), Arm(400, 80)),
    (Arm(500, 100), Arm(480, 60)),
    (Arm(300, 45), Arm(310, 48)),
    (Arm(5_000, 500), Arm(5_100, 580)),
    (Arm(60_000, 6_000), Arm(60_000, 6_150)),
    (Arm(200, 12), Arm(210, 0)),
]


@pytest.mark.parametrize(("control", "treatment"), CASES)
def test_a_look_is_wider_than_the_fixed_horizon_test_and_agrees_with_its_own_p_value(
    control: Arm, treatment: Arm
) -> None:
    # Given a look at two arms
    look = sequential_look(control, treatment)
    assert look is not None
    # Then the estimate and its standard error are the Wald (unpooled) ones
    difference, se = wald(control, treatment)
    assert look.difference == pytest.approx(difference, rel=1e-12)
    assert look.standard_error == pytest.approx(se, rel=1e-12)
    # And the always-valid interval contains the fixed-horizon 95% interval (the price of reading it any day)
    z = stats.norm.ppf(1 - ALPHA / 2)
    assert look.ci_low < difference - z * se and look.ci_high > difference + z * se
    # And the always-valid p is at least the fixed-horizon two-sided p of the same z statistic
    assert look.p_value >= 2 * stats.norm.sf(abs(difference / se))
    # And p < alpha exactly when 0 is outside the interval (one test, two readings)
    assert (look.p_value < ALPHA) == (look.ci_low > 0 or look.ci_high < 0)


def test_the_p_value_at_the_boundary_of_the_interval_is_alpha() -> None:
    # Given a look, When we test theta_0 = the interval's upper bound (shift the data by it), Then Lambda = 1/alpha
    look = sequential_look(Arm(3_000, 300), Arm(3_000, 360))
    assert look is not None
    z = (look.difference - look.ci_high) / look.standard_error
    assert mixture_likelihood_ratio(z, RHO2 * 6_000) == pytest.approx(1 / ALPHA, rel=1e-9)


def test_no_look_without_variance() -> None:
    assert sequential_look(Arm(100, 0), Arm(100, 0)) is None
    assert sequential_look(Arm(100, 100), Arm(100, 100)) is None
    assert sequential_look(Arm(0, 0), Arm(100, 10)) is None


def test_running_minimum_p_and_running_intersection_over_looks() -> None:
    # Given three looks whose middle one is significant
    looks = [
        sequential_look(Arm(2_000, 200), Arm(2_000, 230)),
        sequential_look(Arm(4_000, 400), Arm(4_000, 520)),
        sequential_look(Arm(6_000, 600), Arm(6_000, 660)),
    ]
    assert all(look is not None for look in looks)
    result = always_valid([None, *looks])
    assert result is not None
    # Then the p-value is the smallest so far and the interval the intersection of all intervals
    assert result.p_value == min(look.p_value for look in looks if look)
    assert result.ci_low == max(look.ci_low for look in looks if look)
    assert result.ci_high == min(look.ci_high for look in looks if look)
    # And the first significant look is remembered (index among the looks given, None counted)
    assert result.looks == 3 and result.first_significant_look == 2 and result.last == looks[-1]
    assert always_valid([None, None]) is None


def test_the_interval_of_a_small_sample_stays_within_the_possible_differences() -> None:
    # Given 30 persons per arm (the interval is many standard errors wide this early)
    look = sequential_look(Arm(30, 24), Arm(29, 21))
    assert look is not None
    # Then it is clipped to [-1, 1], the range of a difference of two rates, and still contains 0
    assert look.ci_low == -1.0 and look.ci_high == 1.0 and look.p_value > ALPHA


@pytest.mark.parametrize("z", [0.5, 1.0, 1.96, 3.0])
def test_in_the_flat_mixture_limit_the_statistic_is_the_fixed_horizon_chi_square(z: float) -> None:
    # Given the mixture likelihood ratio with a very wide mixture (r = tau^2 / V -> infinity)
    r = 1e9
    # When its Occam factor sqrt(1 + r) is taken out, Then 2 log(Lambda sqrt(1 + r)) tends to z^2, the
    # fixed-horizon test's chi-square statistic, whose tail scipy gives as the fixed-horizon two-sided p-value
    statistic = 2 * (math.log(mixture_likelihood_ratio(z, r)) + 0.5 * math.log1p(r))
    assert statistic == pytest.approx(z * z, rel=1e-6)
    assert stats.chi2.sf(statistic, 1) == pytest.approx(2 * stats.norm.sf(z), rel=1e-5)
