"""The campaign ranking (featurepulse/reporting/campaigns.py): adoption per person reached, cost per adopter, and
the below-the-rest flag (one-sided pooled two-proportion z-test, Bonferroni), checked against scipy."""

from __future__ import annotations

import math
from typing import Any

import pytest
from scipy.stats import norm

from featurepulse.reporting.campaigns import RANKING_COLUMNS, below_rest_p_value, rank_campaigns, ranking_table


def row(name: str, reached: int, adopters: int, source: str = "google", medium: str = "cpc") -> dict[str, Any]:
    return {
        "campaign_source": source,
        "campaign_medium": medium,
        "campaign_name": name,
        "campaign_reached": reached,
        "campaign_adopters": adopters,
    }


def scipy_p(a: int, n: int, b: int, m: int) -> float:
    pooled = (a + b) / (n + m)
    z = (a / n - b / m) / math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
    return float(norm.cdf(z))


def test_the_ranking_orders_by_adoption_per_person_reached_and_prices_each_adopter() -> None:
    # Given three campaigns (one tagged with two sources), the direct bucket, and spend for two of them
    rows = [
        row("spring", 100, 30),
        row("spring", 50, 15, source="newsletter", medium="email"),
        row("webinar", 80, 40),
        row("beta", 60, 6),
        row("(none)", 500, 100, source="(direct)", medium="(none)"),
    ]
    ranking = rank_campaigns(rows, {"spring": 900.0, "beta": 120.0, "unused": 5.0})
    # Then direct is no campaign, a name's sources are summed, and the best adoption comes first
    assert [c.campaign_name for c in ranking] == ["webinar", "spring", "beta"]
    spring = ranking[1]
    assert (spring.reached, spring.adopters, spring.sources) == (150, 45, ("google / cpc", "newsletter / email"))
    # And cost per adopter is spend / adopters (none without spend), ranked cheapest first
    assert spring.cost_per_adopter == pytest.approx(20.0) and ranking[2].cost_per_adopter == pytest.approx(20.0)
    assert ranking[0].cost_per_adopter is None and ranking[0].cost_rank is None
    assert [c.cost_rank for c in ranking[1:]] == [2, 1]  # equal costs: by name
    assert tuple(ranking_table(ranking).columns) == RANKING_COLUMNS


def test_a_campaign_well_below_the_pooled_rest_is_flagged_with_a_bonferroni_adjusted_p() -> None:
    rows = [row("spring", 150, 45), row("webinar", 80, 40), row("beta", 60, 6)]
    ranking = {c.campaign_name: c for c in rank_campaigns(rows, {})}
    # Then each p is scipy's one-sided pooled z-test against the rest, times the 3 campaigns tested
    assert ranking["beta"].p_value == pytest.approx(min(1.0, 3 * scipy_p(6, 60, 85, 230)), rel=1e-9)
    assert ranking["webinar"].p_value == pytest.approx(min(1.0, 3 * scipy_p(40, 80, 51, 210)), rel=1e-9)
    # And only the campaign significantly below the rest is flagged
    assert ranking["beta"].below_rest and not ranking["spring"].below_rest and not ranking["webinar"].below_rest


def test_a_small_campaign_is_not_tested() -> None:
    # Given a campaign that reached 4 persons: fewer than 5 expected adopters and non-adopters
    assert below_rest_p_value(0, 4, 50, 100) is None
    ranking = rank_campaigns([row("tiny", 4, 0), row("big", 100, 50)], {})
    assert all(c.p_value is None and not c.below_rest for c in ranking)
