"""The metric catalogue's definitions in plain Python: the reference the report SQL is tested against.

`featurepulse/domain/metrics.py` says what each metric means; this module computes it over a list of events
(dicts with the lake columns) and the person of each id (`featurepulse.domain.identity.resolve_persons`), one
function per report query, returning the query's rows under the catalogue's column names. The tests run the
`athena_queries/*.sql` on DuckDB over the same events and compare metric by metric
(tests/integration/test_metric_consistency.py). Small, obvious code over speed: it is a reference.

Pure standard library (plus the domain's identity rules).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from featurepulse.domain.identity import IdKey, person_of
from featurepulse.domain.metrics import (
    ADOPTER_STAGES,
    AUDIENCE_RULES,
    CAMPAIGN_NOT_SET,
    COMPLETER_STAGES,
    DIRECT_CAMPAIGN,
    RETENTION_HORIZONS_DAYS,
    SEGMENT_UNKNOWN,
    STAGE_COMPLETE,
    STAGE_DISMISS,
    STAGE_USE,
    STAGE_VIEW,
    TIME_ON_FEATURE_BUCKETS,
    VIEWER_STAGES,
)

Row = dict[str, Any]
MAU_DAYS = 30
WAU_DAYS = 7


@dataclass(frozen=True)
class PersonEvent:
    """One row of the base view `person_events`: a de-duplicated event and its person."""

    event_id: str
    person_id: str | None
    day: date
    event_time: datetime
    feature: str | None
    stage: str | None
    duration_ms: int | None
    campaign: tuple[str | None, str | None, str | None]
    user_id: str | None = None  # the raw ids (blank ones as None)
    anonymous_id: str | None = None

    @property
    def tagged(self) -> bool:
        return any(value is not None for value in self.campaign)


def _utc_naive(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value  # noqa: UP017 - 3.9


def _blank_is_none(value: Any) -> str | None:
    return None if value is None or not str(value).strip() else str(value)


def person_events(events: Iterable[Mapping[str, Any]], persons: Mapping[IdKey, str]) -> list[PersonEvent]:
    """De-duplicate on (source_id, event_id), keeping the first received copy, and attribute each event to its
    person (the person of its user id when set, else of its anonymous id; an unlinked id is its own person)."""
    first: dict[tuple[str, str], Mapping[str, Any]] = {}
    for e in events:
        key = (str(e["source_id"]), str(e["event_id"]))
        kept = first.get(key)
        if kept is None or _utc_naive(e["received_at"]) < _utc_naive(kept["received_at"]):
            first[key] = e
    out = []
    for e in first.values():
        at = _utc_naive(e["timestamp"])
        user_id, anonymous_id = _blank_is_none(e.get("user_id")), _blank_is_none(e.get("anonymous_id"))
        out.append(
            PersonEvent(
                event_id=str(e["event_id"]),
                person_id=person_of(persons, user_id, anonymous_id),
                day=at.date(),
                event_time=at,
                feature=e.get("feature"),
                stage=e.get("stage"),
                duration_ms=e.get("duration_ms"),
                campaign=(e.get("campaign_source"), e.get("campaign_medium"), e.get("campaign_name")),
                user_id=user_id,
                anonymous_id=anonymous_id,
            )
        )
    return sorted(out, key=lambda p: (p.event_time, p.event_id))


def between(events: Iterable[PersonEvent], start: date, end: date) -> list[PersonEvent]:
    return [e for e in events if start <= e.day <= end]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


# --- the metrics over one window of events ------------------------------------------------------------


def persons_with(events: Iterable[PersonEvent], stages: Sequence[str] | None = None) -> set[str]:
    """Persons with an event (of a feature in one of `stages`, when given)."""
    return {
        e.person_id
        for e in events
        if e.person_id is not None and (stages is None or (e.feature is not None and e.stage in stages))
    }


def active_persons(events: Iterable[PersonEvent]) -> int:
    return len(persons_with(events))


def feature_viewers(events: Iterable[PersonEvent]) -> int:
    return len(persons_with(events, VIEWER_STAGES))


def adopters(events: Iterable[PersonEvent]) -> int:
    return len(persons_with(events, ADOPTER_STAGES))


def completers(events: Iterable[PersonEvent]) -> int:
    return len(persons_with(events, COMPLETER_STAGES))


def completers_per_viewer(events: Iterable[PersonEvent]) -> float | None:
    """The live panels' unordered ratio: completers / feature viewers of the same window, order ignored."""
    events = list(events)
    return _ratio(completers(events), feature_viewers(events))


# --- the report queries -------------------------------------------------------------------------------


def period_summary(events: Sequence[PersonEvent], start: date, end: date) -> list[Row]:
    window = between(events, start, end)
    active, adopting, completing = active_persons(window), adopters(window), completers(window)
    return [
        {
            "events": len(window),
            "active_persons": active,
            "feature_viewers": feature_viewers(window),
            "adopters": adopting,
            "completers": completing,
            "adoption_rate": _ratio(adopting, active),
            "completion_rate": _ratio(completing, adopting),
        }
    ]


def active_users_daily(events: Sequence[PersonEvent], start: date, end: date) -> list[Row]:
    out = []
    day = start
    while day <= end:
        out.append(
            {
                "day": day,
                "dau": active_persons(between(events, day, day)),
                "wau": active_persons(between(events, day - timedelta(days=WAU_DAYS - 1), day)),
                "mau": active_persons(between(events, day - timedelta(days=MAU_DAYS - 1), day)),
            }
        )
        day += timedelta(days=1)
    return out


def feature_adoption_daily(events: Sequence[PersonEvent], start: date, end: date) -> list[Row]:
    window = between(events, start, end)
    keys = sorted({(e.day, e.feature) for e in window if e.feature is not None})
    out = []
    for day, feature in keys:
        that_day = [e for e in window if e.day == day]
        of_feature = [e for e in that_day if e.feature == feature]
        active, adopting = active_persons(that_day), adopters(of_feature)
        out.append(
            {
                "day": day,
                "feature": feature,
                "active_persons": active,
                "feature_viewers": feature_viewers(of_feature),
                "adopters": adopting,
                "adoption_rate": _ratio(adopting, active),
            }
        )
    return out


def _median_seconds(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def feature_funnel(events: Sequence[PersonEvent], start: date, end: date) -> list[Row]:
    journeys: dict[tuple[str, str], list[PersonEvent]] = defaultdict(list)
    for e in between(events, start, end):
        if e.feature is not None and e.person_id is not None:
            journeys[(e.feature, e.person_id)].append(e)
    stats: dict[str, dict[str, Any]] = {}
    for (feature, _person), mine in journeys.items():
        stages = (STAGE_VIEW, STAGE_USE, STAGE_COMPLETE, STAGE_DISMISS)
        times = {stage: sorted(e.event_time for e in mine if e.stage == stage) for stage in stages}
        if not times[STAGE_VIEW]:
            continue
        s = stats.setdefault(feature, {"viewed": 0, "used": 0, "completed": 0, "dismissed": 0, "vu": [], "uc": []})
        viewed_at = times[STAGE_VIEW][0]
        s["viewed"] += 1
        s["dismissed"] += any(t >= viewed_at for t in times[STAGE_DISMISS])
        used_at = next((t for t in times[STAGE_USE] if t >= viewed_at), None)
        if used_at is None:
            continue
        s["used"] += 1
        s["vu"].append((used_at - viewed_at).total_seconds())
        completed_at = next((t for t in times[STAGE_COMPLETE] if t >= used_at), None)
        if completed_at is not None:
            s["completed"] += 1
            s["uc"].append((completed_at - used_at).total_seconds())
    out = [
        {
            "feature": feature,
            "funnel_viewed": s["viewed"],
            "funnel_used": s["used"],
            "funnel_completed": s["completed"],
            "funnel_dismissed": s["dismissed"],
            "funnel_view_to_use_rate": s["used"] / s["viewed"],
            "funnel_use_to_complete_rate": _ratio(s["completed"], s["used"]),
            "funnel_view_to_complete_rate": s["completed"] / s["viewed"],
            "funnel_median_seconds_view_to_use": _median_seconds(s["vu"]),
            "funnel_median_seconds_use_to_complete": _median_seconds(s["uc"]),
        }
        for feature, s in stats.items()
    ]
    return sorted(out, key=lambda r: (-r["funnel_viewed"], r["feature"]))


def time_on_feature_distribution(events: Sequence[PersonEvent], start: date, end: date) -> list[Row]:
    timed = [
        e
        for e in between(events, start, end)
        if e.feature is not None and e.duration_ms is not None and e.duration_ms >= 0
    ]
    out = []
    for feature in sorted({e.feature for e in timed if e.feature is not None}):
        mine = [e for e in timed if e.feature == feature]
        for order, label, low, high in TIME_ON_FEATURE_BUCKETS:
            inside = [e for e in mine if e.duration_ms is not None and low <= e.duration_ms < (high or 2**63)]
            out.append(
                {
                    "feature": feature,
                    "bucket_order": order,
                    "bucket": label,
                    "timed_events": len(inside),
                    "timed_persons": active_persons(inside),
                    "share_of_timed_events": len(inside) / len(mine),
                }
            )
    return out


def adopter_retention(events: Sequence[PersonEvent], start: date, end: date) -> list[Row]:
    window = between(events, start - timedelta(days=max(RETENTION_HORIZONS_DAYS)), end)
    active: dict[date, set[str]] = defaultdict(set)
    adopted: dict[tuple[str, date], set[str]] = defaultdict(set)
    for e in window:
        if e.person_id is None:
            continue
        active[e.day].add(e.person_id)
        if e.feature is not None and e.stage in ADOPTER_STAGES:
            adopted[(e.feature, e.day)].add(e.person_id)
    out = []
    for (feature, cohort_day), cohort in adopted.items():
        for horizon in RETENTION_HORIZONS_DAYS:
            measured = cohort_day + timedelta(days=horizon)
            if not start <= measured <= end:
                continue
            retained = cohort & active[measured]
            returning = cohort & adopted.get((feature, measured), set())
            out.append(
                {
                    "feature": feature,
                    "horizon_days": horizon,
                    "cohort_day": cohort_day,
                    "cohort_adopters": len(cohort),
                    "retained_adopters": len(retained),
                    "returning_adopters": len(returning),
                    "retention_rate": len(retained) / len(cohort),
                    "feature_retention_rate": len(returning) / len(cohort),
                }
            )
    return sorted(out, key=lambda r: (r["feature"], r["horizon_days"], r["cohort_day"]))


def campaign_attribution(events: Sequence[PersonEvent], start: date, end: date) -> list[Row]:
    by_person: dict[str, list[PersonEvent]] = defaultdict(list)
    for e in between(events, start, end):
        if e.person_id is not None:
            by_person[e.person_id].append(e)
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for mine in by_person.values():
        mine.sort(key=lambda e: (e.event_time, e.event_id))
        touch = next((e for e in mine if e.tagged), None)
        if touch is None:
            key, since = DIRECT_CAMPAIGN, mine[0].event_time
        else:
            source, medium, name = (value if value is not None else CAMPAIGN_NOT_SET for value in touch.campaign)
            key, since = (source, medium, name), touch.event_time
        after = [e for e in mine if e.event_time >= since]
        total = totals[key]
        total[0] += 1
        total[1] += bool(persons_with(after, ADOPTER_STAGES))
        total[2] += bool(persons_with(after, COMPLETER_STAGES))
    out = [
        {
            "campaign_source": key[0],
            "campaign_medium": key[1],
            "campaign_name": key[2],
            "campaign_reached": reached,
            "campaign_adopters": adopted,
            "campaign_completers": completed,
            "campaign_adoption_rate": adopted / reached,
            "campaign_conversion_rate": completed / reached,
        }
        for key, (reached, adopted, completed) in totals.items()
    ]
    return sorted(
        out, key=lambda r: (-r["campaign_reached"], r["campaign_source"], r["campaign_medium"], r["campaign_name"])
    )


# Report query name -> its reference (the experiment query has its own tests: docs/experiments.md).
REPORT_REFERENCE: dict[str, Callable[[Sequence[PersonEvent], date, date], list[Row]]] = {
    "period_summary": period_summary,
    "active_users_daily": active_users_daily,
    "feature_adoption_daily": feature_adoption_daily,
    "feature_funnel": feature_funnel,
    "time_on_feature_distribution": time_on_feature_distribution,
    "adopter_retention": adopter_retention,
    "campaign_attribution": campaign_attribution,
}


# --- the queries that read the traits view (person_traits) ---------------------------------------------------
# traits: (person_id, trait) -> value, the rows of `person_traits` (featurepulse/domain/traits.py is its reference).
Traits = Mapping[tuple[str, str], str]


def feature_adoption_by_segment(
    events: Sequence[PersonEvent], start: date, end: date, traits: Traits, chosen: Sequence[str]
) -> list[Row]:
    """Per feature and value of the trait `chosen[0]`: the segment's active persons, adopters and adoption rate."""
    trait = chosen[0]
    window = [e for e in between(events, start, end) if e.person_id is not None]
    segment = {e.person_id: traits.get((str(e.person_id), trait), SEGMENT_UNKNOWN) for e in window}
    sizes: dict[str, int] = defaultdict(int)
    for value in segment.values():
        sizes[value] += 1
    out = []
    for feature in sorted({e.feature for e in window if e.feature is not None}):
        adopting = persons_with([e for e in window if e.feature == feature], ADOPTER_STAGES)
        for value in sorted(sizes, key=lambda v: (v == SEGMENT_UNKNOWN, v)):
            adopted = sum(1 for p in adopting if segment[p] == value)
            out.append(
                {
                    "feature": feature,
                    "segment_trait": trait,
                    "segment_value": value,
                    "active_persons": sizes[value],
                    "adopters": adopted,
                    "adoption_rate": adopted / sizes[value],
                }
            )
    return out


def known_user_ids(events: Iterable[PersonEvent]) -> dict[str, list[str]]:
    """Each identified person's known user ids: the person id (the final user id) and the user ids on their
    events. A person is identified when an event of theirs carries a user id or their anonymous id is linked."""
    known: dict[str, set[str]] = defaultdict(set)
    for e in events:
        if e.person_id is None:
            continue
        if e.user_id is not None:
            known[e.person_id].update((e.user_id, e.person_id))
        elif e.person_id != e.anonymous_id:
            known[e.person_id].add(e.person_id)
    return {person: sorted(ids) for person, ids in known.items()}


def audience_members(events: Sequence[PersonEvent], start: date, end: date) -> dict[tuple[str, str], set[str]]:
    """(feature, audience) -> its persons (identified or not), by the catalogue's audience rules."""
    stages: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in between(events, start, end):
        if e.feature is not None and e.person_id is not None and e.stage is not None:
            stages[(e.feature, e.person_id)].add(e.stage)
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (feature, person), seen in stages.items():
        for audience, (needs, excludes) in AUDIENCE_RULES.items():
            if seen & set(needs) and not seen & set(excludes):
                out[(feature, audience)].add(person)
    return out


def feature_audiences(
    events: Sequence[PersonEvent], start: date, end: date, traits: Traits, chosen: Sequence[str]
) -> list[Row]:
    """The identified persons of each feature's audiences, one row per chosen trait (one row without any)."""
    known = known_user_ids(between(events, start, end))
    out = []
    for (feature, audience), persons in audience_members(events, start, end).items():
        reachable = sorted(p for p in persons if p in known)
        for person in reachable:
            traits_chosen: list[str | None] = [*sorted(set(chosen))] or [None]
            for trait in traits_chosen:
                out.append(
                    {
                        "feature": feature,
                        "audience": audience,
                        "person_id": person,
                        "user_ids": ";".join(known[person]),
                        "trait": trait,
                        "trait_value": None if trait is None else traits.get((person, trait)),
                        "audience_persons": len(reachable),
                    }
                )
    return sorted(out, key=lambda r: (r["feature"], r["audience"], r["person_id"], r["trait"] or ""))


# Queries that read the traits view: the reference also takes the traits and the chosen trait(s).
TRAIT_REPORT_REFERENCE: dict[str, Callable[[Sequence[PersonEvent], date, date, Traits, Sequence[str]], list[Row]]] = {
    "feature_adoption_by_segment": feature_adoption_by_segment,
    "feature_audiences": feature_audiences,
}
