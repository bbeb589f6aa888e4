"""What the report SHOULD say about the generated traffic, counted per PERSON (docs/identity.md, docs/metrics.md).

The traffic generator knows its persons: a simulated user is one device (`anonymousId`) that may sign in
(`userId`) and alias the two, so the person of a message is the simulated user who sent it, whatever ids the
message carries. From the requests the generator built this module computes, for one UTC day, the numbers the
report computes from the lake through the identity table, with the same definitions as the report SQL:

- active_persons: persons with any valid event that day;
- feature_viewers / adopters / completers: persons with a feature event of stage view / use or complete /
  complete that day;
- funnel[feature]: the ORDERED funnel: a person enters with their first view of the feature in the day, is
  "used" with a use at or after that view, "completed" with a completion at or after that use;
- attribution[(source, medium, campaign)]: first touch: each active person goes to the campaign of their first
  campaign-tagged event of the day (then smallest event id), else ('(direct)', '(none)', '(none)'); a missing
  UTM field reads '(not set)'; reached / adopted (use or complete at or after the touch) / completed (complete
  at or after the touch);
- experiments[(experiment_id, variation_id)]: exposed = persons whose first 'Experiment Viewed' of the
  experiment in the day assigned them that variation; converted = of them, persons who completed the
  experiment's own feature (the feature named most often by the day's events carrying the experiment id, ties:
  smallest name) at or after that first exposure;
- segments (adoption by segment, trait `plan` by default): a person's segment is the value of the trait in the
  traits of their `identify` calls (the latest wins; the demo's CRM file sets no plan), `(unknown)` without one;
  segment_active[value] = the day's active persons of the segment, segment_adopters[(feature, value)] = of them,
  adopters of the feature;
- audiences[(feature, audience)]: the IDENTIFIED persons (a message of theirs, any day, carries their userId) who,
  that day, viewed the feature and neither used nor completed it (`viewed-not-adopted`), or used or completed it
  and never completed it (`adopted-not-completed`), as (user id, user ids, trait value) rows: the report names a
  signed-in person by their (final) user id.

Invalid messages (the ones the generator sends to be quarantined) are left out; so are messages the server
did not accept when `accepted_ids` is given. Event time is the device's time minus the device's clock skew:
the time the ingest's skew correction restores (pass the generator so its users' skews are known; without it
every device is taken as on time).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from featurepulse.domain.schema import parse_timestamp
from featurepulse.domain.stages import EXPERIMENT_VIEWED, STAGE_COMPLETE, STAGE_USE, STAGE_VIEW
from featurepulse.local.traffic import OutgoingRequest, TrafficGenerator

DIRECT = ("(direct)", "(none)", "(none)")
NOT_SET = "(not set)"
ADOPTING_STAGES = (STAGE_USE, STAGE_COMPLETE)


@dataclass(frozen=True)
class TruthEvent:
    """One valid message as the lake will hold it, with the person who sent it."""

    person: str
    event_id: str
    time: datetime
    type: str
    event: str | None
    feature: str | None
    stage: str | None
    campaign: tuple[str, str, str] | None
    experiment_id: str | None
    variation_id: str | None
    user_id: str | None = None  # the userId the message carried
    traits: Mapping[str, Any] | None = None  # an identify call's traits


@dataclass
class GroundTruth:
    day: date
    active_persons: int = 0
    feature_viewers: int = 0
    adopters: int = 0
    completers: int = 0
    funnel: dict[str, dict[str, int]] = field(default_factory=dict)
    attribution: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)
    experiments: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    segment_trait: str = "plan"
    segment_active: dict[str, int] = field(default_factory=dict)
    segment_adopters: dict[tuple[str, str], int] = field(default_factory=dict)
    audiences: dict[tuple[str, str], set[tuple[str, str, str]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (tuple keys joined with ' / ')."""
        return {
            "day": self.day.isoformat(),
            "active_persons": self.active_persons,
            "feature_viewers": self.feature_viewers,
            "adopters": self.adopters,
            "completers": self.completers,
            "funnel": {k: dict(v) for k, v in sorted(self.funnel.items())},
            "attribution": {" / ".join(k): dict(v) for k, v in sorted(self.attribution.items())},
            "experiments": {" / ".join(k): dict(v) for k, v in sorted(self.experiments.items())},
            "segment_active": dict(sorted(self.segment_active.items())),
            "segment_adopters": {" / ".join(k): v for k, v in sorted(self.segment_adopters.items())},
            "audiences": {" / ".join(k): sorted(v) for k, v in sorted(self.audiences.items())},
        }


def _campaign(context: Mapping[str, Any]) -> tuple[str, str, str] | None:
    campaign = context.get("campaign")
    if not isinstance(campaign, Mapping):
        return None
    values = (campaign.get("source"), campaign.get("medium"), campaign.get("name"))
    if all(v in (None, "") for v in values):
        return None
    return tuple(str(v) if v not in (None, "") else NOT_SET for v in values)  # type: ignore[return-value]


def truth_events(
    requests: Iterable[OutgoingRequest],
    *,
    clock_skew_ms: Mapping[str, int] | None = None,
    accepted_ids: Collection[str] | None = None,
    event_times: Mapping[str, datetime] | None = None,
) -> list[TruthEvent]:
    """The valid messages of the requests, each with its person (the sending device) and its true time."""
    skews = clock_skew_ms or {}
    times = event_times or {}
    out: list[TruthEvent] = []
    for request in requests:
        bodies: list[dict[str, Any]] = request.payload.get("batch", [request.payload])
        for body, meta in zip(bodies, request.messages, strict=True):
            if meta.invalid is not None or not meta.message_id:
                continue
            if accepted_ids is not None and meta.message_id not in accepted_ids:
                continue
            person = body.get("anonymousId") or body.get("userId")
            if not person:
                continue
            skew = timedelta(milliseconds=skews.get(str(body.get("anonymousId")), 0))
            properties = body.get("properties") or {}
            feature = meta.feature
            out.append(
                TruthEvent(
                    person=str(person),
                    event_id=meta.message_id,
                    time=times[meta.message_id]
                    if meta.message_id in times
                    else parse_timestamp(body["timestamp"]) - skew,
                    type=meta.type,
                    event=meta.event,
                    feature=feature,
                    stage=meta.stage if feature else None,
                    campaign=_campaign(body.get("context") or {}),
                    experiment_id=properties.get("experiment_id") if meta.type == "track" else None,
                    variation_id=properties.get("variation_id") if meta.type == "track" else None,
                    user_id=str(body["userId"]) if body.get("userId") else None,
                    traits=body.get("traits") if meta.type == "identify" else None,
                )
            )
    return out


def ground_truth(
    sent: Iterable[OutgoingRequest],
    day: date,
    *,
    generator: TrafficGenerator | None = None,
    accepted_ids: Collection[str] | None = None,
    clock_skew_ms: Mapping[str, int] | None = None,
    event_times: Mapping[str, datetime] | None = None,
    segment_trait: str = "plan",
) -> GroundTruth:
    """The day's person counts of the traffic the generator built (`sent`: every request it returned).

    `generator` (or `clock_skew_ms`, anonymous id -> skew, as `run_traffic(keep_requests=True)` records it)
    gives the devices' clock skews (and so the exact day of events near midnight); `accepted_ids`
    (`TrafficStats.accepted_ids`) leaves out messages the server did not accept. `event_times` (message id ->
    the time the ingest assigned, e.g. read from the stream) replaces the device time minus its skew: the
    skew correction also adds the network delay, which can reorder two events of a device sent a few
    milliseconds apart in two requests; the correction itself is tested elsewhere, persons are checked here.
    """
    skews = {u.anonymous_id: u.clock_skew_ms for u in generator.users} if generator is not None else clock_skew_ms
    every = truth_events(sent, clock_skew_ms=skews, accepted_ids=accepted_ids, event_times=event_times)
    events = [e for e in every if e.time.date() == day]
    events.sort(key=lambda e: (e.time, e.event_id))
    truth = GroundTruth(day=day)
    truth.active_persons = len({e.person for e in events})
    featured = [e for e in events if e.feature is not None]
    truth.feature_viewers = len({e.person for e in featured if e.stage == STAGE_VIEW})
    truth.adopters = len({e.person for e in featured if e.stage in ADOPTING_STAGES})
    truth.completers = len({e.person for e in featured if e.stage == STAGE_COMPLETE})
    truth.funnel = _funnel(featured)
    truth.attribution = _attribution(events)
    truth.experiments = _experiments(events)
    truth.segment_trait = segment_trait
    _segments_and_audiences(truth, every, events)
    return truth


UNKNOWN_SEGMENT = "(unknown)"
AUDIENCE_NAMES = ("viewed-not-adopted", "adopted-not-completed")


def _segments_and_audiences(truth: GroundTruth, every: list[TruthEvent], day_events: list[TruthEvent]) -> None:
    """Adoption by segment and the audiences of the day; identification and traits come from every message."""
    user_of: dict[str, str] = {}
    value_of: dict[str, tuple[datetime, str]] = {}
    for e in every:
        if e.user_id is not None:
            user_of.setdefault(e.person, e.user_id)
        raw = (e.traits or {}).get(truth.segment_trait)
        if raw is not None and (e.person not in value_of or e.time >= value_of[e.person][0]):
            value_of[e.person] = (e.time, raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":")))

    def segment(person: str) -> str:
        return value_of[person][1] if person in value_of else UNKNOWN_SEGMENT

    active = {e.person for e in day_events}
    truth.segment_active = dict(Counter(segment(p) for p in active))
    stages: dict[tuple[str, str], set[str]] = {}
    for e in day_events:
        if e.feature is not None and e.stage is not None:
            stages.setdefault((e.feature, e.person), set()).add(e.stage)
    features = sorted({feature for feature, _ in stages})
    adopters: Counter[tuple[str, str]] = Counter()
    audiences: dict[tuple[str, str], set[tuple[str, str, str]]] = {
        (f, a): set() for f in features for a in AUDIENCE_NAMES
    }
    for (feature, person), seen in stages.items():
        adopted = bool(seen & set(ADOPTING_STAGES))
        if adopted:
            adopters[(feature, segment(person))] += 1
        if person not in user_of:
            continue
        member = (user_of[person], user_of[person], value_of[person][1] if person in value_of else "")
        if STAGE_VIEW in seen and not adopted:
            audiences[(feature, "viewed-not-adopted")].add(member)
        if adopted and STAGE_COMPLETE not in seen:
            audiences[(feature, "adopted-not-completed")].add(member)
    truth.segment_adopters = {
        (feature, value): adopters[(feature, value)] for feature in features for value in truth.segment_active
    }
    truth.audiences = audiences


def _first(events: Iterable[TruthEvent], stage: str, after: datetime | None) -> datetime | None:
    if after is None:
        return None
    return min((e.time for e in events if e.stage == stage and e.time >= after), default=None)


def _funnel(featured: list[TruthEvent]) -> dict[str, dict[str, int]]:
    journeys: dict[tuple[str, str], list[TruthEvent]] = {}
    for e in featured:
        journeys.setdefault((str(e.feature), e.person), []).append(e)
    funnel: dict[str, dict[str, int]] = {}
    for (feature, _person), mine in journeys.items():
        viewed = min((e.time for e in mine if e.stage == STAGE_VIEW), default=None)
        if viewed is None:
            continue
        used = _first(mine, STAGE_USE, viewed)
        completed = _first(mine, STAGE_COMPLETE, used)
        counts = funnel.setdefault(feature, {"viewed": 0, "used": 0, "completed": 0})
        counts["viewed"] += 1
        counts["used"] += used is not None
        counts["completed"] += completed is not None
    return funnel


def _attribution(events: list[TruthEvent]) -> dict[tuple[str, str, str], dict[str, int]]:
    by_person: dict[str, list[TruthEvent]] = {}
    for e in events:  # sorted by (time, event_id)
        by_person.setdefault(e.person, []).append(e)
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for mine in by_person.values():
        touch = next((e for e in mine if e.campaign is not None), None)
        key = touch.campaign if touch is not None and touch.campaign is not None else DIRECT
        since = touch.time if touch is not None else mine[0].time
        after = [e for e in mine if e.feature is not None and e.time >= since]
        counts = out.setdefault(key, {"reached": 0, "adopted": 0, "completed": 0})
        counts["reached"] += 1
        counts["adopted"] += any(e.stage in ADOPTING_STAGES for e in after)
        counts["completed"] += any(e.stage == STAGE_COMPLETE for e in after)
    return out


def _experiments(events: list[TruthEvent]) -> dict[tuple[str, str], dict[str, int]]:
    features: dict[str, Counter[str]] = {}
    for e in events:
        if e.experiment_id and e.feature:
            features.setdefault(e.experiment_id, Counter())[e.feature] += 1
    goal = {x: min(c, key=lambda f: (-c[f], f)) for x, c in features.items()}
    exposures: dict[tuple[str, str], TruthEvent] = {}
    for e in events:  # sorted: the first exposure of a person to an experiment wins
        if e.event == EXPERIMENT_VIEWED and e.experiment_id and e.variation_id:
            exposures.setdefault((e.experiment_id, e.person), e)
    completions: dict[tuple[str, str], list[datetime]] = {}
    for e in events:
        if e.feature is not None and e.stage == STAGE_COMPLETE:
            completions.setdefault((e.person, e.feature), []).append(e.time)
    out: dict[tuple[str, str], dict[str, int]] = {}
    for (experiment, person), exposure in exposures.items():
        counts = out.setdefault((experiment, str(exposure.variation_id)), {"exposed": 0, "converted": 0})
        counts["exposed"] += 1
        goal_times = completions.get((person, goal.get(experiment, "")), [])
        counts["converted"] += any(t >= exposure.time for t in goal_times)
    return out
