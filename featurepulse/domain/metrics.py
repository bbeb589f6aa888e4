"""The metric catalogue: one definition per metric (docs/metrics.md is generated from it; docs/design.md).

Every number the product shows (the e-mailed report, the live panels, the QuickSight dashboard) is a metric of
this catalogue, under the catalogue's name. Each metric says what it means, how it is computed, what it counts
(persons or events) and where it is computed (`places`: a report query's output column, a live panel field, a
QuickSight data-set column). `tools/check_metric_catalogue.py` (run by `make lint`) fails when a place that
shows a number named like a metric is not declared here, or when a declared place does not exist; the tests
compute each report metric with the SQL and with a plain-Python reference of these definitions
(`featurepulse/domain/metrics_reference.py`) and compare.

Naming rule: one name, one meaning. Two numbers that are computed differently get two names, even when a
marketer might call both "conversion" (e.g. the ordered funnel's `funnel_view_to_complete_rate` and the live
panels' unordered `completers_per_viewer`).

Pure standard library: imported by the report job, the Flink job, the panels and the tests alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

# The funnel stages (the same strings as featurepulse.domain.stages; a unit test keeps them equal). Kept as
# literals here so the catalogue needs nothing but the standard library.
STAGE_VIEW = "view"
STAGE_USE = "use"
STAGE_COMPLETE = "complete"
STAGE_DISMISS = "dismiss"

FUNNEL_STEPS: tuple[str, ...] = (STAGE_VIEW, STAGE_USE, STAGE_COMPLETE)  # the ordered funnel
VIEWER_STAGES: tuple[str, ...] = (STAGE_VIEW,)
ADOPTER_STAGES: tuple[str, ...] = (STAGE_USE, STAGE_COMPLETE)  # an adopter used OR completed the feature
COMPLETER_STAGES: tuple[str, ...] = (STAGE_COMPLETE,)

# Retention horizons (days after the cohort day) and the time-on-feature buckets, [low_ms, high_ms).
RETENTION_HORIZONS_DAYS: tuple[int, ...] = (1, 7, 30)
TIME_ON_FEATURE_BUCKETS: tuple[tuple[int, str, int, int | None], ...] = (
    (1, "< 10 s", 0, 10_000),
    (2, "10-30 s", 10_000, 30_000),
    (3, "30 s-1 min", 30_000, 60_000),
    (4, "1-3 min", 60_000, 180_000),
    (5, "3-10 min", 180_000, 600_000),
    (6, ">= 10 min", 600_000, None),
)

# Adoption by segment: the segment of persons without the chosen trait.
SEGMENT_UNKNOWN = "(unknown)"
# Audiences (docs/reports.md): name -> (stages of the feature the person had in the period (any of them),
# stages they did not have (none of them)); order inside the period does not matter.
AUDIENCE_RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "viewed-not-adopted": ((STAGE_VIEW,), ADOPTER_STAGES),
    "adopted-not-completed": (ADOPTER_STAGES, COMPLETER_STAGES),
}

# First-touch attribution of persons without a campaign-tagged event, and of a tagged event's missing field.
DIRECT_CAMPAIGN: tuple[str, str, str] = ("(direct)", "(none)", "(none)")
CAMPAIGN_NOT_SET = "(not set)"


def stage_filter_sql(stages: tuple[str, ...], column: str = "stage") -> str:
    """SQL predicate selecting the events of some stages, e.g. `stage IN ('use', 'complete')` (Athena, Flink,
    DuckDB alike). `column` may be qualified (`e.stage`)."""
    if not stages:
        raise ValueError("no stages")
    for stage in stages:
        if not stage.isidentifier():
            raise ValueError(f"not a stage name: {stage!r}")
    if len(stages) == 1:
        return f"{column} = '{stages[0]}'"
    return f"{column} IN ({', '.join(repr(s) for s in stages)})"


ADOPTER_STAGE_SQL = stage_filter_sql(ADOPTER_STAGES)  # stage IN ('use', 'complete')

Unit = Literal["persons", "events", "rate", "seconds", "usd"]
Counts = Literal["persons", "events"]
PlaceKind = Literal["report", "report_table", "live", "quicksight"]
PLACE_KINDS: tuple[str, ...] = ("report", "report_table", "live", "quicksight")

# What `source` names, per kind of place (the check resolves them; docs/metrics.md explains them).
PLACE_SOURCES: dict[str, str] = {
    "report": "a report query: an output column of athena_queries/<source>.sql",
    "report_table": "a table the report computes in Python from query rows (e-mail and CSV): "
    "retention_by_horizon (featurepulse/reporting/report.py), "
    "experiment_verdicts (featurepulse/reporting/experiments.py), "
    "campaign_ranking (featurepulse/reporting/campaigns.py)",
    "live": "a live panel: a field of the model <source> in featurepulse/realtime/panels.py",
    "quicksight": "a QuickSight data set: a column of the data set <source> in "
    "featurepulse/realtime/quicksight_panels.py",
}


@dataclass(frozen=True)
class Place:
    """Where a metric is computed and shown: a column of a query/table/data set, or a field of a panel."""

    kind: PlaceKind
    source: str
    column: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.source}.{self.column}"


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # what the e-mail and the panels show
    meaning: str  # one sentence
    formula: str
    unit: Unit
    counts: Counts  # who counts: persons (identity-resolved, docs/identity.md) or events (de-duplicated)
    breakdown: str  # the grain of one value
    places: tuple[Place, ...] = field(default=())

    def places_of(self, kind: PlaceKind) -> tuple[Place, ...]:
        return tuple(p for p in self.places if p.kind == kind)


def _places(
    name: str,
    *,
    report: tuple[str, ...] = (),
    table: tuple[str, ...] = (),
    live: tuple[str, ...] = (),
    quicksight: tuple[str, ...] = (),
) -> tuple[Place, ...]:
    """Places where the column/field carries the metric's own name (the rule; see the module docstring)."""
    return (
        *(Place("report", q, name) for q in report),
        *(Place("report_table", t, name) for t in table),
        *(Place("live", m, name) for m in live),
        *(Place("quicksight", d, name) for d in quicksight),
    )


_PERSONS: Counts = "persons"
_EVENTS: Counts = "events"

METRICS: tuple[Metric, ...] = (
    # --- activity ------------------------------------------------------------------------------------------
    Metric(
        "events",
        "Events",
        "Events received in the window, each counted once.",
        "count(events), de-duplicated on (source_id, event_id) keeping the first received copy",
        "events",
        _EVENTS,
        "per period (report); per feature and minute, and per day (live)",
        _places("events", report=("period_summary",), live=("MinutePoint", "ActivityPanel")),
    ),
    Metric(
        "active_persons",
        "Active persons",
        "Persons with at least one event in the window.",
        "count(distinct person_id)",
        "persons",
        _PERSONS,
        "per period (report summary); per day (report adoption table, live activity panel); per segment of a "
        "trait over the period (adoption by segment: the segment's persons only)",
        _places(
            "active_persons",
            report=("period_summary", "feature_adoption_daily", "feature_adoption_by_segment"),
            live=("ActivityPanel",),
            quicksight=("activity",),
        ),
    ),
    Metric(
        "feature_persons",
        "Persons on the feature",
        "Persons with any event of the feature (any stage) in the window; not active_persons, which counts "
        "every event of the product.",
        "count(distinct person_id) where feature = the feature",
        "persons",
        _PERSONS,
        "per feature and minute (live series)",
        _places("feature_persons", live=("MinutePoint",), quicksight=("minutes",)),
    ),
    Metric(
        "dau",
        "Daily active persons (DAU)",
        "Persons with at least one event on the day.",
        "count(distinct person_id) over the events of the day",
        "persons",
        _PERSONS,
        "per day of the period",
        _places("dau", report=("active_users_daily",)),
    ),
    Metric(
        "wau",
        "Weekly active persons (WAU)",
        "Persons with at least one event in the 7 days ending on the day.",
        "count(distinct person_id) over the events of [day - 6, day]",
        "persons",
        _PERSONS,
        "per day of the period",
        _places("wau", report=("active_users_daily",)),
    ),
    Metric(
        "mau",
        "Monthly active persons (MAU)",
        "Persons with at least one event in the 30 days ending on the day.",
        "count(distinct person_id) over the events of [day - 29, day]",
        "persons",
        _PERSONS,
        "per day of the period; the headline shows the period's last day",
        _places("mau", report=("active_users_daily",)),
    ),
    # --- feature adoption -------------------------------------------------------------------------------
    Metric(
        "feature_viewers",
        "Feature viewers",
        "Persons who viewed a feature (an event of stage 'view').",
        "count(distinct person_id) where stage = 'view' and feature is set",
        "persons",
        _PERSONS,
        "per period, any feature (summary); per day and feature (adoption table, live funnel)",
        _places(
            "feature_viewers",
            report=("period_summary", "feature_adoption_daily"),
            live=("FunnelPanel", "CampaignRow", "VariantRow"),
            quicksight=("campaigns", "variants"),
        ),
    ),
    Metric(
        "feature_users",
        "Feature users",
        "Persons who used a feature (an event of stage 'use'); unlike adopters, completing alone does not count.",
        "count(distinct person_id) where stage = 'use' and feature is set",
        "persons",
        _PERSONS,
        "per day and feature or variant (live)",
        _places("feature_users", live=("FunnelPanel", "VariantRow")),
    ),
    Metric(
        "adopters",
        "Feature adopters",
        "Persons who used or completed a feature (an event of stage 'use' or 'complete').",
        "count(distinct person_id) where stage in ('use', 'complete') and feature is set",
        "persons",
        _PERSONS,
        "per period, any feature (summary); per day and feature (adoption table, live), campaign or variant (live); "
        "per feature and segment of a trait over the period (adoption by segment)",
        _places(
            "adopters",
            report=("period_summary", "feature_adoption_daily", "feature_adoption_by_segment"),
            live=("FunnelPanel", "AdoptionRow", "CampaignRow", "VariantRow"),
            quicksight=("activity", "campaigns"),
        ),
    ),
    Metric(
        "completers",
        "Persons who completed",
        "Persons who completed a feature (an event of stage 'complete').",
        "count(distinct person_id) where stage = 'complete' and feature is set",
        "persons",
        _PERSONS,
        "per period, any feature (summary); per day and feature, campaign or variant (live)",
        _places(
            "completers",
            report=("period_summary",),
            live=("FunnelPanel", "CampaignRow", "VariantRow"),
            quicksight=("campaigns", "variants"),
        ),
    ),
    Metric(
        "dismissers",
        "Persons who dismissed",
        "Persons who dismissed a feature (an event of stage 'dismiss').",
        "count(distinct person_id) where stage = 'dismiss' and feature is set",
        "persons",
        _PERSONS,
        "per day and feature (live funnel)",
        _places("dismissers", live=("FunnelPanel",)),
    ),
    Metric(
        "adoption_rate",
        "Adoption rate",
        "Share of the active persons who adopted (used or completed) a feature.",
        "adopters / active_persons (NULL without active persons)",
        "rate",
        _PERSONS,
        "per period, any feature (summary); per day and feature (adoption table, live activity panel); per "
        "feature and segment of a trait over the period (adoption by segment: the segment's adopters over its "
        "active persons)",
        _places(
            "adoption_rate",
            report=("period_summary", "feature_adoption_daily", "feature_adoption_by_segment"),
            live=("AdoptionRow",),
            quicksight=("activity",),
        ),
    ),
    Metric(
        "completion_rate",
        "Completion rate (of adopters)",
        "Share of the adopters who completed a feature.",
        "completers / adopters (NULL without adopters)",
        "rate",
        _PERSONS,
        "per period, any feature (summary)",
        _places("completion_rate", report=("period_summary",)),
    ),
    # --- the live panels' unordered ratios (the stream cannot follow a person's order across windows) -------
    Metric(
        "completers_per_viewer",
        "Completers per viewer",
        "Persons who completed the feature per person who viewed it, in the same window, order ignored "
        "(a completer who never viewed counts in the numerator only); not the funnel's ordered rate.",
        "completers / feature_viewers (NULL without viewers)",
        "rate",
        _PERSONS,
        "per day and feature, campaign or variant (live)",
        _places(
            "completers_per_viewer",
            live=("FunnelPanel", "CampaignRow", "VariantRow"),
            quicksight=("campaigns", "variants"),
        ),
    ),
    Metric(
        "stage_persons",
        "Persons at the stage",
        "The live funnel's bars, one row per stage: feature_viewers, feature_users or completers of the day, "
        "order ignored (the row's stage says which).",
        "feature_viewers | feature_users | completers, by the row's stage",
        "persons",
        _PERSONS,
        "per day, feature and stage (QuickSight funnel data set, long format)",
        (Place("quicksight", "funnel", "persons"),),
    ),
    # --- event counts by stage (live series) ----------------------------------------------------------------
    Metric(
        "views",
        "Views",
        "Feature events of stage 'view'.",
        "count(events) where stage = 'view'",
        "events",
        _EVENTS,
        "per minute and per day, per feature (live)",
        _places("views", live=("MinutePoint", "FunnelPanel", "CampaignRow"), quicksight=("minutes", "campaigns")),
    ),
    Metric(
        "uses",
        "Uses",
        "Feature events of stage 'use'.",
        "count(events) where stage = 'use'",
        "events",
        _EVENTS,
        "per minute and per day, per feature (live)",
        _places("uses", live=("MinutePoint", "FunnelPanel", "CampaignRow"), quicksight=("minutes", "campaigns")),
    ),
    Metric(
        "completions",
        "Completions",
        "Feature events of stage 'complete'.",
        "count(events) where stage = 'complete'",
        "events",
        _EVENTS,
        "per minute and per day, per feature (live)",
        _places("completions", live=("MinutePoint", "FunnelPanel", "CampaignRow"), quicksight=("minutes", "campaigns")),
    ),
    Metric(
        "dismissals",
        "Dismissals",
        "Feature events of stage 'dismiss'.",
        "count(events) where stage = 'dismiss'",
        "events",
        _EVENTS,
        "per minute and per day, per feature (live)",
        _places("dismissals", live=("MinutePoint", "FunnelPanel"), quicksight=("minutes",)),
    ),
    Metric(
        "late_events",
        "Late events",
        "Events that arrived after their window closed (counted here, not in any window).",
        "count(events) whose event time is older than the stream's watermark when they arrive",
        "events",
        _EVENTS,
        "per day (live)",
        _places("late_events", live=("Panels",)),
    ),
    # --- the ordered funnel ---------------------------------------------------------------------------
    Metric(
        "funnel_viewed",
        "Funnel: viewed",
        "Persons who viewed the feature in the period (they enter the funnel with their first view).",
        "count(distinct person_id) with a 'view' of the feature in the period",
        "persons",
        _PERSONS,
        "per feature over the period",
        _places("funnel_viewed", report=("feature_funnel",)),
    ),
    Metric(
        "funnel_used",
        "Funnel: used",
        "Funnel entrants who used the feature at or after their first view.",
        "count(persons) with a 'use' at or after their first 'view'",
        "persons",
        _PERSONS,
        "per feature over the period",
        _places("funnel_used", report=("feature_funnel",)),
    ),
    Metric(
        "funnel_completed",
        "Funnel: completed",
        "Funnel entrants who completed the feature at or after their first use that followed the view.",
        "count(persons) with a 'complete' at or after their first 'use' at or after their first 'view'",
        "persons",
        _PERSONS,
        "per feature over the period",
        _places("funnel_completed", report=("feature_funnel",)),
    ),
    Metric(
        "funnel_dismissed",
        "Funnel: dismissed",
        "Funnel entrants who dismissed the feature at or after their first view.",
        "count(persons) with a 'dismiss' at or after their first 'view'",
        "persons",
        _PERSONS,
        "per feature over the period",
        _places("funnel_dismissed", report=("feature_funnel",)),
    ),
    Metric(
        "funnel_view_to_use_rate",
        "Funnel: view to use",
        "Share of the funnel entrants who went on to use the feature.",
        "funnel_used / funnel_viewed",
        "rate",
        _PERSONS,
        "per feature over the period",
        _places("funnel_view_to_use_rate", report=("feature_funnel",)),
    ),
    Metric(
        "funnel_use_to_complete_rate",
        "Funnel: use to complete",
        "Share of the persons at the funnel's 'used' step who went on to complete.",
        "funnel_completed / funnel_used (NULL when nobody used it)",
        "rate",
        _PERSONS,
        "per feature over the period",
        _places("funnel_use_to_complete_rate", report=("feature_funnel",)),
    ),
    Metric(
        "funnel_view_to_complete_rate",
        "Funnel: view to complete",
        "Share of the funnel entrants who completed the whole funnel in order.",
        "funnel_completed / funnel_viewed",
        "rate",
        _PERSONS,
        "per feature over the period",
        _places("funnel_view_to_complete_rate", report=("feature_funnel",)),
    ),
    Metric(
        "funnel_median_seconds_view_to_use",
        "Median time from view to use",
        "Median over persons of the time from their first view to their first use after it.",
        "exact median of (used_at - viewed_at) in seconds (NULL when nobody used it)",
        "seconds",
        _PERSONS,
        "per feature over the period",
        _places("funnel_median_seconds_view_to_use", report=("feature_funnel",)),
    ),
    Metric(
        "funnel_median_seconds_use_to_complete",
        "Median time from use to complete",
        "Median over persons of the time from their funnel use to their first completion after it.",
        "exact median of (completed_at - used_at) in seconds (NULL when nobody completed it)",
        "seconds",
        _PERSONS,
        "per feature over the period",
        _places("funnel_median_seconds_use_to_complete", report=("feature_funnel",)),
    ),
    # --- time on feature -------------------------------------------------------------------------------
    Metric(
        "timed_events",
        "Timed events",
        "Feature events with a duration (properties.duration_ms >= 0) in the time-on-feature bucket.",
        "count(events) where feature is set and low_ms <= duration_ms < high_ms",
        "events",
        _EVENTS,
        "per feature and duration bucket over the period",
        _places("timed_events", report=("time_on_feature_distribution",)),
    ),
    Metric(
        "timed_persons",
        "Persons with timed events",
        "Persons with at least one timed feature event in the bucket.",
        "count(distinct person_id) of the bucket's timed events",
        "persons",
        _PERSONS,
        "per feature and duration bucket over the period",
        _places("timed_persons", report=("time_on_feature_distribution",)),
    ),
    Metric(
        "share_of_timed_events",
        "Share of timed events",
        "The bucket's share of the feature's timed events.",
        "timed_events / timed events of the feature (all buckets)",
        "rate",
        _EVENTS,
        "per feature and duration bucket over the period",
        _places("share_of_timed_events", report=("time_on_feature_distribution",)),
    ),
    # --- retention of adopters -------------------------------------------------------------------------
    Metric(
        "cohort_adopters",
        "Cohort adopters",
        "Persons who adopted the feature on the cohort day (the cohort).",
        "count(distinct person_id) with stage in ('use', 'complete') of the feature on cohort_day",
        "persons",
        _PERSONS,
        "per feature, horizon (D1, D7, D30) and cohort day; summed over the cohorts in the e-mail",
        _places("cohort_adopters", report=("adopter_retention",), table=("retention_by_horizon",)),
    ),
    Metric(
        "retained_adopters",
        "Retained adopters",
        "Cohort adopters with any event on cohort_day + horizon.",
        "count(cohort persons with an event on cohort_day + horizon_days)",
        "persons",
        _PERSONS,
        "per feature, horizon (D1, D7, D30) and cohort day",
        _places("retained_adopters", report=("adopter_retention",)),
    ),
    Metric(
        "returning_adopters",
        "Returning adopters",
        "Cohort adopters who adopted the same feature again on cohort_day + horizon.",
        "count(cohort persons with stage in ('use', 'complete') of the feature on cohort_day + horizon_days)",
        "persons",
        _PERSONS,
        "per feature, horizon (D1, D7, D30) and cohort day",
        _places("returning_adopters", report=("adopter_retention",)),
    ),
    Metric(
        "retention_rate",
        "Retention (D1, D7, D30)",
        "Share of the cohort adopters who came back (any event) after the horizon's days.",
        "retained_adopters / cohort_adopters (cohort-size weighted over cohorts in the e-mail)",
        "rate",
        _PERSONS,
        "per feature, horizon and cohort day; per feature and horizon in the e-mail",
        _places("retention_rate", report=("adopter_retention",), table=("retention_by_horizon",)),
    ),
    Metric(
        "feature_retention_rate",
        "Feature retention (D1, D7, D30)",
        "Share of the cohort adopters who adopted the feature again after the horizon's days.",
        "returning_adopters / cohort_adopters (cohort-size weighted over cohorts in the e-mail)",
        "rate",
        _PERSONS,
        "per feature, horizon and cohort day; per feature and horizon in the e-mail",
        _places("feature_retention_rate", report=("adopter_retention",), table=("retention_by_horizon",)),
    ),
    # --- first-touch campaign attribution --------------------------------------------------------------
    Metric(
        "campaign_reached",
        "Reached (first touch)",
        "Persons active in the period whose first campaign-tagged event in the period came from the campaign "
        "(persons without one are attributed to (direct) / (none) / (none)).",
        "count(persons) by the UTM source/medium/campaign of their first tagged event (time, then event_id)",
        "persons",
        _PERSONS,
        "per UTM source, medium and campaign over the period",
        _places("campaign_reached", report=("campaign_attribution",), table=("campaign_ranking",)),
    ),
    Metric(
        "campaign_adopters",
        "Adopted after the touch",
        "Reached persons who adopted a feature (use or complete) at or after their attributed touch.",
        "count(reached persons with stage in ('use', 'complete') at or after the touch)",
        "persons",
        _PERSONS,
        "per UTM source, medium and campaign over the period",
        _places("campaign_adopters", report=("campaign_attribution",), table=("campaign_ranking",)),
    ),
    Metric(
        "campaign_completers",
        "Completed after the touch",
        "Reached persons who completed a feature at or after their attributed touch.",
        "count(reached persons with stage = 'complete' at or after the touch)",
        "persons",
        _PERSONS,
        "per UTM source, medium and campaign over the period",
        _places("campaign_completers", report=("campaign_attribution",)),
    ),
    Metric(
        "campaign_adoption_rate",
        "Campaign adoption rate",
        "Share of the campaign's reached persons who adopted a feature after the touch.",
        "campaign_adopters / campaign_reached",
        "rate",
        _PERSONS,
        "per UTM source, medium and campaign over the period",
        _places("campaign_adoption_rate", report=("campaign_attribution",), table=("campaign_ranking",)),
    ),
    Metric(
        "campaign_conversion_rate",
        "Campaign conversion rate",
        "Share of the campaign's reached persons who completed a feature after the touch.",
        "campaign_completers / campaign_reached",
        "rate",
        _PERSONS,
        "per UTM source, medium and campaign over the period",
        _places("campaign_conversion_rate", report=("campaign_attribution",)),
    ),
    Metric(
        "campaign_cost_per_adopter",
        "Cost per adopter",
        "The campaign's imported spend (table campaign_spend, the total imported for the campaign name) divided by "
        "the persons it reached who adopted a feature after the touch in the period; none without spend or "
        "without adopters.",
        "campaign_spend_usd / campaign_adopters, per campaign name (NULL without spend or adopters)",
        "usd",
        _PERSONS,
        "per campaign name over the period (the campaign ranking)",
        _places("campaign_cost_per_adopter", table=("campaign_ranking",)),
    ),
    # --- audiences (docs/reports.md, "Audiences") -------------------------------------------------------
    Metric(
        "audience_persons",
        "Persons in the audience",
        "Persons with a user id in a feature's audience of the period: viewed-not-adopted (viewed the feature, "
        "neither used nor completed it) or adopted-not-completed (used or completed it, never completed it).",
        "count(distinct person_id) with a user id, by the audience's rule over the feature's events of the period",
        "persons",
        _PERSONS,
        "per feature and audience over the period",
        _places("audience_persons", report=("feature_audiences",)),
    ),
    # --- experiments (docs/experiments.md) ------------------------------------------------------------
    Metric(
        "exposed",
        "Exposed",
        "Persons exposed to the experiment, assigned to the variant of their first 'Experiment Viewed' event "
        "in the experiment's window.",
        "count(distinct person_id) by first exposure (time, then event_id)",
        "persons",
        _PERSONS,
        "per experiment and variant (cumulative per day of the window in the query)",
        _places("exposed", report=("experiment_results",), table=("experiment_verdicts",)),
    ),
    Metric(
        "converted",
        "Converted",
        "Exposed persons who reached the experiment's goal (by default completing its own feature) at or after "
        "their first exposure, in the window.",
        "count(exposed persons with a goal event at or after the first exposure)",
        "persons",
        _PERSONS,
        "per experiment and variant (cumulative per day of the window in the query)",
        _places("converted", report=("experiment_results",), table=("experiment_verdicts",)),
    ),
    Metric(
        "conversion_rate",
        "Experiment conversion rate",
        "Share of a variant's exposed persons who reached the experiment's goal.",
        "converted / exposed",
        "rate",
        _PERSONS,
        "per experiment and variant",
        _places("conversion_rate", table=("experiment_verdicts",)),
    ),
)

_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
METRIC_NAMES: tuple[str, ...] = tuple(_BY_NAME)
if len(_BY_NAME) != len(METRICS):  # pragma: no cover - caught by the catalogue tests too
    raise RuntimeError("two metrics share a name")


def metric(name: str) -> Metric:
    """The metric of that name; KeyError naming the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}") from None


def metrics_at(kind: PlaceKind, source: str | None = None) -> Iterator[tuple[Metric, Place]]:
    """Every (metric, place) of one kind of place, optionally of one source (a query, a panel model...)."""
    for m in METRICS:
        for p in m.places_of(kind):
            if source is None or p.source == source:
                yield m, p


# Words that make a column or field "named like a metric": such a name must be a declared place of a metric
# of this catalogue (tools/check_metric_catalogue.py). Dimensions (day, feature, bucket, campaign_source ...)
# and statistics (p_value, difference ...) carry none of them.
METRIC_WORDS: frozenset[str] = frozenset(
    {
        "active",
        "adopted",
        "adopters",
        "adoption",
        "completed",
        "completers",
        "completion",
        "completions",
        "conversion",
        "converted",
        "dau",
        "dismissers",
        "exposed",
        "funnel",
        "mau",
        "persons",
        "rate",
        "reached",
        "retained",
        "retention",
        "users",
        "viewed",
        "viewers",
        "wau",
    }
)


def named_like_a_metric(column: str) -> bool:
    """A catalogue name, or a name with a metric word (`users`, `rate`, `adoption` ...) in it."""
    return column in _BY_NAME or any(word in METRIC_WORDS for word in column.lower().split("_"))
