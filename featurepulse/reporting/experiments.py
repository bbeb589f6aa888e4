"""Experiment statistics: the sample-ratio-mismatch check and an always-valid sequential test (docs/experiments.md).

Pure `math` (no scipy at run time: the Glue job ships without it); tests check every figure against scipy and
statsmodels.

- **Sample ratio mismatch (SRM)**: a chi-square goodness-of-fit test of the exposed persons per variant against
  the configured split (default: equal). p < 0.001 flags the experiment: its assignment or its logging is
  broken and no verdict on it can be trusted.
- **Always-valid inference**: the mixture sequential probability ratio test (mSPRT; Johari, Pekelis and Walsh,
  "Always valid inference", 2017; the test behind Optimizely's Stats Engine, Eppo's and GrowthBook's sequential
  mode) on the difference of two conversion rates, with the normal approximation theta_hat ~ N(theta, V),
  V = p_c(1 - p_c)/n_c + p_t(1 - p_t)/n_t. The mixing distribution is theta ~ N(0, tau^2) with
  tau^2 = rho^2 * N * V (N = persons in both arms; N * V is the variance of the estimate per person, which
  does not change as the sample grows, so the prior is on the effect in units of one person's standard
  deviation). The mixture likelihood ratio against theta = theta_0 is, with r = tau^2 / V = rho^2 * N and
  z = (theta_hat - theta_0) / sqrt(V):

      Lambda = (1 + r)^(-1/2) * exp(z^2 * r / (2 * (1 + r)))

  Under theta_0 it is a (approximately, through the plug-in V) nonnegative martingale with mean 1, so by Ville's
  inequality P(Lambda ever exceeds 1/alpha) <= alpha: the always-valid p-value min(1, 1/Lambda) and the
  confidence sequence {theta_0 : Lambda(theta_0) < 1/alpha}

      theta_hat +- sqrt(V * (1 + r) / r * (2 * log(1 / alpha) + log(1 + r)))

  hold at every look at once, however often the report is read and whenever one stops. rho^2 is chosen so the
  sequence is narrowest at TUNED_FOR_PERSONS persons (Howard et al. 2021, as GrowthBook does):
  rho^2 = (-2 log alpha + log(1 - 2 log alpha)) / N*.
- Over the daily looks of a report the p-value is the running minimum and the interval the running
  intersection (both stay valid): a verdict once reached is not undone by a later day's noise.
- With m > 1 treatment variants each is tested at alpha / m (Bonferroni) and its p-value shown times m.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from featurepulse.reporting.experiments_config import ExperimentsConfig, ExperimentSettings
from featurepulse.reporting.runners import QueryResult

ALPHA = 0.05
SRM_ALPHA = 0.001
TUNED_FOR_PERSONS = 10_000
# A look is analysed once both arms have this many exposed persons (the report's `min_exposed_per_variant`
# overrides it) and the two arms together have at least MIN_OUTCOMES conversions and non-conversions, below
# which the normal approximation of a difference of proportions is poor.
MIN_EXPOSED_PER_VARIANT = 100
MIN_OUTCOMES = 5

VERDICT_CONTROL = "control"
VERDICT_COLLECTING = "collecting data"
VERDICT_NO_DIFFERENCE = "no detectable difference"
VERDICT_SRM = "sample ratio mismatch: do not trust"
VERDICT_NO_GOAL = "no goal: set it in the experiments setting"


def mixture_rho2(alpha: float = ALPHA, tuned_for: int = TUNED_FOR_PERSONS) -> float:
    """rho^2 of the normal mixture whose confidence sequence is narrowest after `tuned_for` persons."""
    a = -2.0 * math.log(alpha)
    return (a + math.log(1.0 + a)) / tuned_for


RHO2 = mixture_rho2()
METHOD = (
    f"always-valid mSPRT (normal mixture, tau^2 = {RHO2:.2g} x N x V, narrowest at {TUNED_FOR_PERSONS:,} "
    f"persons), {1 - ALPHA:.0%} confidence sequence, safe to read daily"
)


# --- distributions (math only) ---------------------------------------------------------------------


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a), the upper regularized incomplete gamma function (x >= 0, a > 0).

    Series for x < a + 1, Lentz's continued fraction otherwise (Numerical Recipes, 6.2).
    """
    if x <= 0.0:
        return 1.0
    log_prefactor = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        denominator = a
        for _ in range(10_000):
            denominator += 1.0
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefactor))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(log_prefactor) * h


def chi_square_sf(statistic: float, degrees_of_freedom: int) -> float:
    """P(X > statistic) for X ~ chi-square with `degrees_of_freedom` degrees of freedom."""
    if degrees_of_freedom < 1:
        raise ValueError("degrees_of_freedom must be >= 1")
    if math.isinf(statistic):
        return 0.0
    if degrees_of_freedom == 1:  # the exact form, accurate far into the tail
        return math.erfc(math.sqrt(max(statistic, 0.0) / 2.0))
    return _regularized_gamma_q(degrees_of_freedom / 2.0, max(statistic, 0.0) / 2.0)


# --- sample ratio mismatch -------------------------------------------------------------------------


@dataclass(frozen=True)
class SrmCheck:
    """Chi-square goodness of fit of the exposed persons per variant against the expected split."""

    statistic: float
    degrees_of_freedom: int
    p_value: float
    expected_shares: Mapping[str, float]
    flagged: bool


def srm_check(
    exposed: Mapping[str, int], split: Mapping[str, float] | None = None, *, alpha: float = SRM_ALPHA
) -> SrmCheck | None:
    """Test the exposed counts against `split` ({variant: weight}; None: equal across the variants seen).

    A variant of the split that nobody saw counts as 0 exposed; a variant seen but absent from the split has an
    expected count of 0, which is a mismatch (p = 0). None when there is nothing to test (fewer than two
    variants or nobody exposed).
    """
    weights = dict(split) if split else dict.fromkeys(exposed, 1.0)
    variants = sorted(set(weights) | set(exposed))
    total = sum(exposed.get(v, 0) for v in variants)
    if len(variants) < 2 or total == 0:
        return None
    weight_sum = sum(weights.values())
    shares = {v: weights.get(v, 0.0) / weight_sum for v in variants}
    statistic = 0.0
    for v in variants:
        expected = shares[v] * total
        observed = exposed.get(v, 0)
        if expected == 0.0:
            if observed:
                statistic = math.inf
            continue
        statistic += (observed - expected) ** 2 / expected
    df = len(variants) - 1
    p_value = chi_square_sf(statistic, df)
    return SrmCheck(statistic, df, p_value, shares, p_value < alpha)


# --- always-valid inference ------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    exposed: int
    converted: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.exposed if self.exposed else None


@dataclass(frozen=True)
class Look:
    """One reading of treatment minus control: the estimate, its always-valid interval and p-value."""

    difference: float
    standard_error: float
    ci_low: float
    ci_high: float
    p_value: float


def mixture_likelihood_ratio(z: float, r: float) -> float:
    """Lambda of the normal mixture for a z statistic and r = tau^2 / V (the closed form of the integral)."""
    log_ratio = -0.5 * math.log1p(r) + z * z * r / (2.0 * (1.0 + r))
    return math.exp(min(log_ratio, 700.0))


def sequential_look(control: Arm, treatment: Arm, *, alpha: float = ALPHA, rho2: float = RHO2) -> Look | None:
    """The mSPRT at one look; None while the difference has no variance (an arm empty, or all 0 / all 1)."""
    pc, pt = control.rate, treatment.rate
    if pc is None or pt is None:
        return None
    variance = pc * (1.0 - pc) / control.exposed + pt * (1.0 - pt) / treatment.exposed
    if variance <= 0.0:
        return None
    difference = pt - pc
    se = math.sqrt(variance)
    r = rho2 * (control.exposed + treatment.exposed)
    p_value = min(1.0, 1.0 / mixture_likelihood_ratio(difference / se, r))
    half_width = se * math.sqrt((1.0 + r) / r * (2.0 * math.log(1.0 / alpha) + math.log1p(r)))
    # A difference of two rates lies in [-1, 1]: clipping the interval to it keeps its coverage.
    return Look(difference, se, max(-1.0, difference - half_width), min(1.0, difference + half_width), p_value)


@dataclass(frozen=True)
class SequentialResult:
    """The test over all looks so far: running minimum p-value, running intersection of the intervals."""

    last: Look
    p_value: float
    ci_low: float
    ci_high: float
    looks: int
    first_significant_look: int | None  # index into the looks given, None if never significant


def always_valid(looks: Iterable[Look | None], *, alpha: float = ALPHA) -> SequentialResult | None:
    """Combine the looks in time order (None = a look that could not be analysed yet)."""
    result: SequentialResult | None = None
    for index, look in enumerate(looks):
        if look is None:
            continue
        if result is None:
            low, high, p, first = look.ci_low, look.ci_high, look.p_value, None
            count = 0
        else:
            low = max(result.ci_low, look.ci_low)
            high = min(result.ci_high, look.ci_high)
            p, first, count = min(result.p_value, look.p_value), result.first_significant_look, result.looks
        if low > high:  # an empty intersection: the model is off; fall back to this look alone
            low, high = look.ci_low, look.ci_high
        if first is None and p < alpha:
            first = index
        result = SequentialResult(look, p, low, high, count + 1, first)
    return result


# --- the report's analysis -------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    feature: str | None
    stage: str | None
    event: str | None
    configured: bool

    @property
    def label(self) -> str:
        if self.event:
            return f"sending '{self.event}'"
        if not self.feature:
            return "none (no feature event carries this experiment)"
        verb = {"view": "viewing", "use": "using", "complete": "completing", "dismiss": "dismissing"}
        text = f"{verb.get(self.stage or '', self.stage or '')} {self.feature}"
        return text if self.configured else f"{text} (the experiment's own feature)"

    @property
    def defined(self) -> bool:
        return bool(self.event or (self.feature and self.stage))


@dataclass(frozen=True)
class VariantResult:
    variation_id: str
    is_control: bool
    exposed: int
    converted: int
    expected_share: float | None
    difference: float | None = None  # rate - control rate, at the last look
    ci_low: float | None = None  # always-valid interval of the difference (running intersection)
    ci_high: float | None = None
    p_value: float | None = None  # always-valid p (running minimum over the looks)
    verdict: str = VERDICT_COLLECTING
    significant_since: str | None = None  # the look (day) on which p first fell below alpha

    @property
    def rate(self) -> float | None:
        return self.converted / self.exposed if self.exposed else None


@dataclass(frozen=True)
class ExperimentResult:
    experiment_id: str
    goal: Goal
    control: str
    srm: SrmCheck | None
    variants: tuple[VariantResult, ...]
    window_start: str
    window_end: str
    method: str = METHOD

    def summary(self, variant: VariantResult) -> str:
        """One sentence: the verdict with its counts, goal and method (the demo and logs print it)."""
        control = next(v for v in self.variants if v.is_control)
        p = "-" if variant.p_value is None else f"{variant.p_value:.3g}"
        srm = (
            "not checked"
            if self.srm is None
            else f"p = {self.srm.p_value:.3g}" + (" FLAGGED" if self.srm.flagged else "")
        )
        return (
            f"{self.experiment_id}: {variant.verdict} ({variant.variation_id} {variant.converted}/{variant.exposed} vs "
            f"{control.variation_id} {control.converted}/{control.exposed} persons; goal: {self.goal.label}; "
            f"always-valid p = {p}; sample ratio {srm}; method: {self.method})"
        )

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per variant (the table the e-mail shows and the CSV attachment holds)."""
        return [
            {
                "experiment_id": self.experiment_id,
                "variation_id": v.variation_id,
                "is_control": v.is_control,
                "exposed": v.exposed,
                "converted": v.converted,
                "conversion_rate": v.rate,
                "expected_share": v.expected_share,
                "difference": v.difference,
                "ci_low": v.ci_low,
                "ci_high": v.ci_high,
                "p_value": v.p_value,
                "significant_since": v.significant_since,
                "srm_p_value": self.srm.p_value if self.srm else None,
                "verdict": v.verdict,
                "goal": self.goal.label,
                "method": self.method,
                "window_start": self.window_start,
                "window_end": self.window_end,
            }
            for v in self.variants
        ]


def choose_control(variants: Sequence[str], settings: ExperimentSettings) -> str:
    if settings.control and settings.control in variants:
        return settings.control
    named = [v for v in variants if v.lower() == "control"]
    return named[0] if named else min(variants)


def _enough_data(control: Arm, treatment: Arm, min_exposed: int) -> bool:
    conversions = control.converted + treatment.converted
    failures = control.exposed + treatment.exposed - conversions
    return (
        min(control.exposed, treatment.exposed) >= min_exposed
        and conversions >= MIN_OUTCOMES
        and failures >= MIN_OUTCOMES
    )


def compare_variant(
    looks: Sequence[tuple[Arm, Arm]],
    *,
    min_exposed: int = MIN_EXPOSED_PER_VARIANT,
    alpha: float = ALPHA,
    rho2: float = RHO2,
) -> SequentialResult | None:
    """The sequential test of one variant against control over its daily looks [(control, treatment), ...]."""
    return always_valid(
        (sequential_look(c, t, alpha=alpha, rho2=rho2) if _enough_data(c, t, min_exposed) else None for c, t in looks),
        alpha=alpha,
    )


def verdict(variation_id: str, result: SequentialResult | None) -> str:
    if result is None:
        return VERDICT_COLLECTING
    if result.ci_low > 0.0:
        return f"{variation_id} better than control"
    if result.ci_high < 0.0:
        return f"{variation_id} worse than control"
    return VERDICT_NO_DIFFERENCE


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def analyse_experiments(
    rows: Iterable[Mapping[str, Any]],
    config: ExperimentsConfig,
    *,
    min_exposed: int = MIN_EXPOSED_PER_VARIANT,
    alpha: float = ALPHA,
) -> tuple[ExperimentResult, ...]:
    """Verdicts from the rows of experiment_results.sql (cumulative counts per experiment, variant and day)."""
    by_experiment: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_experiment.setdefault(str(row["experiment_id"]), []).append(row)
    results = []
    for experiment_id, experiment_rows in sorted(by_experiment.items()):
        settings = config.get(experiment_id)
        first = experiment_rows[0]
        goal = Goal(
            _text(first.get("goal_feature")),
            _text(first.get("goal_stage")),
            _text(first.get("goal_event")),
            bool(first.get("goal_configured")),
        )
        days = sorted({str(r["look_date"]) for r in experiment_rows})
        counts: dict[str, dict[str, Arm]] = {}
        for r in experiment_rows:
            counts.setdefault(str(r["variation_id"]), {})[str(r["look_date"])] = Arm(
                int(r["exposed"]), int(r["converted"])
            )
        # Each variant's cumulative counts on every day (a day without a row keeps the previous counts).
        series: dict[str, list[Arm]] = {}
        for variant, by_day in counts.items():
            current, filled = Arm(0, 0), []
            for day in days:
                current = by_day.get(day, current)
                filled.append(current)
            series[variant] = filled
        control = choose_control(sorted(series), settings)
        final = {v: s[-1] for v, s in series.items()}
        srm = srm_check({v: a.exposed for v, a in final.items()}, settings.split)
        # Several treatments are each compared with control: Bonferroni keeps the chance of any false "better"
        # or "worse" at alpha (each test at alpha / m, p-values shown multiplied by m).
        comparisons = max(1, len(series) - 1)
        variants = []
        for variant in sorted(series, key=lambda v: (v != control, v)):
            arm = final[variant]
            share = srm.expected_shares.get(variant) if srm else None
            if variant == control:
                control_row = VariantResult(variant, True, arm.exposed, arm.converted, share, verdict=VERDICT_CONTROL)
                variants.append(control_row)
                continue
            paired = [(series[control][i], series[variant][i]) for i in range(len(days))]
            sequential = compare_variant(paired, min_exposed=min_exposed, alpha=alpha / comparisons)
            text = (
                VERDICT_NO_GOAL
                if not goal.defined
                else VERDICT_SRM
                if srm is not None and srm.flagged
                else verdict(variant, sequential)
            )
            variants.append(
                VariantResult(
                    variant,
                    False,
                    arm.exposed,
                    arm.converted,
                    share,
                    difference=sequential.last.difference if sequential else None,
                    ci_low=sequential.ci_low if sequential else None,
                    ci_high=sequential.ci_high if sequential else None,
                    p_value=min(1.0, sequential.p_value * comparisons) if sequential else None,
                    verdict=text,
                    significant_since=(
                        days[sequential.first_significant_look]
                        if sequential and sequential.first_significant_look is not None
                        else None
                    ),
                )
            )
        results.append(
            ExperimentResult(
                experiment_id=experiment_id,
                goal=goal,
                control=control,
                srm=srm,
                variants=tuple(variants),
                window_start=str(first.get("window_start") or days[0]),
                window_end=days[-1],
                method=METHOD if comparisons == 1 else f"{METHOD}; Bonferroni over {comparisons} variants vs control",
            )
        )
    return tuple(results)


VERDICT_COLUMNS: tuple[str, ...] = (
    "experiment_id",
    "variation_id",
    "is_control",
    "exposed",
    "converted",
    "conversion_rate",
    "expected_share",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "significant_since",
    "srm_p_value",
    "verdict",
    "goal",
    "method",
    "window_start",
    "window_end",
)


def verdict_table(experiments: Iterable[ExperimentResult]) -> QueryResult:
    """The verdicts as a table: the report table `experiment_verdicts` of the metric catalogue
    (featurepulse/domain/metrics.py), attached to the e-mail as the `experiment_results` CSV."""
    rows = tuple(row for e in experiments for row in e.rows())
    return QueryResult(name="experiment_verdicts", columns=VERDICT_COLUMNS, rows=rows)
