"""Campaign comparisons that say what to do (docs/reports.md, "Campaign ranking"): the report table
`campaign_ranking` of the metric catalogue, computed from the rows of campaign_attribution.sql and
campaign_spend_totals.sql. Pure: no engine, no AWS.

- One row per campaign NAME (the key of the spend file; a name tagged with several sources or media is one
  campaign): persons reached (first touch), adopters after the touch, adoption per person reached, the
  imported spend and the cost per adopter (spend / adopters). The direct bucket ((direct) / (none) / (none))
  is not a campaign and is left out.
- `rank`: by adoption per person reached (highest first; ties: more persons reached, then the name);
  `cost_rank`: by cost per adopter (lowest first), for the campaigns with spend and adopters.
- **Significantly below the rest**: a one-sided two-proportion z-test of the campaign's adoption
  (adopters / reached) against the pooled rest of the campaigns (their adopters / their reached), with the
  pooled standard error; the p-values are Bonferroni-adjusted over the campaigns tested (p x m, at most 1) and
  a campaign is flagged when the adjusted p is below `ALPHA` (0.05). A campaign is tested when the normal
  approximation holds: at least `MIN_EXPECTED` (5) expected adopters and non-adopters in both groups.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from featurepulse.domain.metrics import DIRECT_CAMPAIGN
from featurepulse.reporting.experiments import normal_sf
from featurepulse.reporting.runners import QueryResult

ALPHA = 0.05
MIN_EXPECTED = 5.0
METHOD = (
    "one-sided two-proportion z-test of each campaign's adoption against the pooled rest of the campaigns, "
    f"Bonferroni-adjusted over the campaigns tested, flagged below {ALPHA:g}"
)

RANKING_COLUMNS: tuple[str, ...] = (
    "rank",
    "campaign_name",
    "campaign_sources",
    "campaign_reached",
    "campaign_adopters",
    "campaign_adoption_rate",
    "campaign_spend_usd",
    "campaign_cost_per_adopter",
    "cost_rank",
    "p_value",
    "below_rest",
)


@dataclass(frozen=True)
class CampaignComparison:
    campaign_name: str
    sources: tuple[str, ...]  # "source / medium" the name was tagged with
    reached: int
    adopters: int
    spend_usd: float | None
    rank: int = 0
    cost_rank: int | None = None
    p_value: float | None = None  # Bonferroni-adjusted; None: not tested (too few persons)
    below_rest: bool = False

    @property
    def adoption_rate(self) -> float | None:
        return self.adopters / self.reached if self.reached else None

    @property
    def cost_per_adopter(self) -> float | None:
        if self.spend_usd is None or not self.adopters:
            return None
        return self.spend_usd / self.adopters

    def row(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "campaign_name": self.campaign_name,
            "campaign_sources": ", ".join(self.sources),
            "campaign_reached": self.reached,
            "campaign_adopters": self.adopters,
            "campaign_adoption_rate": self.adoption_rate,
            "campaign_spend_usd": self.spend_usd,
            "campaign_cost_per_adopter": self.cost_per_adopter,
            "cost_rank": self.cost_rank,
            "p_value": self.p_value,
            "below_rest": self.below_rest,
        }


def below_rest_p_value(adopters: int, reached: int, rest_adopters: int, rest_reached: int) -> float | None:
    """One-sided p-value of "this campaign adopts less than the rest" (pooled two-proportion z-test); None when
    the normal approximation does not hold (fewer than MIN_EXPECTED expected adopters or non-adopters)."""
    if reached <= 0 or rest_reached <= 0:
        return None
    pooled = (adopters + rest_adopters) / (reached + rest_reached)
    expected = min(n * share for n in (reached, rest_reached) for share in (pooled, 1.0 - pooled))
    if expected < MIN_EXPECTED:
        return None
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / reached + 1.0 / rest_reached))
    z = (adopters / reached - rest_adopters / rest_reached) / se
    return normal_sf(-z)  # P(Z <= z)


def rank_campaigns(
    attribution: Iterable[Mapping[str, Any]], spend: Mapping[str, float], *, alpha: float = ALPHA
) -> tuple[CampaignComparison, ...]:
    """The campaign ranking from campaign_attribution rows and the spend per campaign name."""
    totals: dict[str, list[Any]] = {}
    for row in attribution:
        key = (row["campaign_source"], row["campaign_medium"], row["campaign_name"])
        if key == DIRECT_CAMPAIGN:
            continue
        total = totals.setdefault(str(row["campaign_name"]), [0, 0, []])
        total[0] += int(row["campaign_reached"] or 0)
        total[1] += int(row["campaign_adopters"] or 0)
        total[2].append(f"{row['campaign_source']} / {row['campaign_medium']}")
    all_reached = sum(t[0] for t in totals.values())
    all_adopters = sum(t[1] for t in totals.values())
    raw_p = {
        name: below_rest_p_value(adopted, reached, all_adopters - adopted, all_reached - reached)
        for name, (reached, adopted, _) in totals.items()
    }
    tested = sum(1 for p in raw_p.values() if p is not None)
    comparisons = [
        CampaignComparison(
            campaign_name=name,
            sources=tuple(sorted(set(sources))),
            reached=reached,
            adopters=adopted,
            spend_usd=spend.get(name),
            p_value=None if raw_p[name] is None else min(1.0, raw_p[name] * tested),  # type: ignore[operator]
        )
        for name, (reached, adopted, sources) in totals.items()
    ]
    comparisons.sort(key=lambda c: (-(c.adoption_rate or 0.0), -c.reached, c.campaign_name))
    by_cost = sorted(
        (c for c in comparisons if c.cost_per_adopter is not None),
        key=lambda c: (c.cost_per_adopter, c.campaign_name),
    )
    cost_rank = {c.campaign_name: i for i, c in enumerate(by_cost, start=1)}
    return tuple(
        replace(
            c,
            rank=i,
            cost_rank=cost_rank.get(c.campaign_name),
            below_rest=c.p_value is not None and c.p_value < alpha,
        )
        for i, c in enumerate(comparisons, start=1)
    )


def spend_by_campaign(rows: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """campaign_spend_totals rows -> {campaign name: spend in USD}."""
    return {
        str(r["campaign_name"]): float(r["campaign_spend_usd"]) for r in rows if r["campaign_spend_usd"] is not None
    }


def ranking_table(ranking: Iterable[CampaignComparison]) -> QueryResult:
    """The ranking as the report table `campaign_ranking` (the e-mail's table and its CSV attachment)."""
    return QueryResult(name="campaign_ranking", columns=RANKING_COLUMNS, rows=tuple(c.row() for c in ranking))
