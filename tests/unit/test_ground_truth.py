"""Ground truth of the generated traffic, per person: the numbers the report must reproduce."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from featurepulse.domain.identity import links_from_events, person_of, resolve_persons
from featurepulse.domain.packing import unpack_record
from featurepulse.domain.stages import DEFAULT_STAGE_MAP, EXPERIMENT_VIEWED
from featurepulse.ingest.enrich import EnrichmentConfig
from featurepulse.ingest.request import parse_request, prepare_events
from featurepulse.local.ground_truth import DIRECT, ground_truth
from featurepulse.local.traffic import (
    EXPERIMENT_ID,
    INVALID_NO_IDENTITY,
    STAGE_OF_EVENT,
    OutgoingRequest,
    SentMessage,
    TrafficGenerator,
)

DAY = date(2026, 3, 10)
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SPRING = {"name": "spring-launch", "source": "newsletter", "medium": "email"}


def message(
    anon: str,
    minute: int,
    kind: str = "track",
    *,
    user: str | None = None,
    event: str | None = None,
    feature: str | None = None,
    campaign: dict[str, str] | None = None,
    day_offset: int = 0,
    invalid: str | None = None,
    **properties: Any,
) -> OutgoingRequest:
    """One single-event request, as the generator builds them (only the fields the report reads)."""
    at = T0 + timedelta(days=day_offset, minutes=minute)
    message_id = f"m-{anon}-{day_offset}-{minute}-{event or kind}"
    body: dict[str, Any] = {"type": kind, "messageId": message_id, "anonymousId": anon}
    if user:
        body["userId"] = user
    if event:
        body["event"] = event
    body["properties"] = {**({"feature": feature} if feature else {}), **properties}
    body["context"] = {"campaign": campaign} if campaign else {}
    body["timestamp"] = at.isoformat().replace("+00:00", "Z")
    stage = STAGE_OF_EVENT.get(event) if event and feature else None
    meta = SentMessage(message_id, kind, event, feature, stage, invalid)
    return OutgoingRequest(route=f"/v1/{kind}", payload=body, messages=(meta,))


def test_a_visitor_who_signs_in_is_one_person_in_every_count() -> None:
    # Given Ann, who arrives from the newsletter anonymously, signs in, then views, uses and completes search
    # And Ben, direct, who uses search BEFORE viewing it (not an ordered funnel step) and views it later
    sent = [
        message("a-ann", 0, "page", campaign=SPRING),
        message("a-ann", 1, "identify", user="u-ann", campaign=SPRING),
        message("a-ann", 2, event="Feature Viewed", feature="search", user="u-ann"),
        message("a-ann", 3, event="Feature Used", feature="search", user="u-ann"),
        message("a-ann", 4, event="Feature Completed", feature="search", user="u-ann"),
        message("a-ben", 0, event="Feature Used", feature="search"),
        message("a-ben", 5, event="Feature Viewed", feature="search"),
        # an invalid message and another day's event: never counted
        message("a-eve", 0, invalid=INVALID_NO_IDENTITY),
        message("a-zed", 0, "page", day_offset=1),
    ]
    # When the ground truth of the day is computed
    truth = ground_truth(sent, DAY)
    # Then Ann counts once everywhere, although she used two ids
    assert (truth.active_persons, truth.feature_viewers, truth.adopters, truth.completers) == (2, 2, 2, 1)
    # And the funnel is ordered: Ben's use before his view does not make him "used"
    assert truth.funnel == {"search": {"viewed": 2, "used": 1, "completed": 1}}
    # And first touch: Ann is the newsletter's, Ben is direct
    assert truth.attribution == {
        ("newsletter", "email", "spring-launch"): {"reached": 1, "adopted": 1, "completed": 1},
        DIRECT: {"reached": 1, "adopted": 1, "completed": 0},
    }


def test_experiment_conversion_is_completing_its_own_feature_after_the_first_exposure() -> None:
    # Given three persons exposed to the experiment whose feature is ai-summary
    exp: dict[str, Any] = {"experiment_id": EXPERIMENT_ID}
    sent = [
        # Ann: exposed to B, completes ai-summary: converted
        message("a-ann", 0, event=EXPERIMENT_VIEWED, variation_id="B", **exp),
        message("a-ann", 1, event="Feature Completed", feature="ai-summary", variation_id="B", **exp),
        # Ben: exposed to A, completes ANOTHER feature only: not converted
        message("a-ben", 0, event=EXPERIMENT_VIEWED, variation_id="A", **exp),
        message("a-ben", 1, event="Feature Viewed", feature="ai-summary", variation_id="A", **exp),
        message("a-ben", 2, event="Feature Completed", feature="dark-mode"),
        # Cid: completed ai-summary before the exposure, then exposed to A and later to B: A, not converted
        message("a-cid", 0, event="Feature Completed", feature="ai-summary", variation_id="A", **exp),
        message("a-cid", 1, event=EXPERIMENT_VIEWED, variation_id="A", **exp),
        message("a-cid", 2, event=EXPERIMENT_VIEWED, variation_id="B", **exp),
    ]
    # When the ground truth is computed
    truth = ground_truth(sent, DAY)
    # Then exposure is the first variant, conversion the experiment's own feature after exposure
    assert truth.experiments == {
        (EXPERIMENT_ID, "A"): {"exposed": 2, "converted": 0},
        (EXPERIMENT_ID, "B"): {"exposed": 1, "converted": 1},
    }


@pytest.fixture(scope="module")
def seeded_run() -> tuple[TrafficGenerator, list[tuple[datetime, OutgoingRequest]]]:
    """A small seeded run: 1,500 messages over 300 one-second ticks on one morning."""
    generator = TrafficGenerator(seed=11)
    sent: list[tuple[datetime, OutgoingRequest]] = []
    for i in range(300):
        now = T0 + timedelta(seconds=i)
        sent.extend((now, request) for request in generator.tick(now, 5))
    return generator, sent


def enriched_events(sent: list[tuple[datetime, OutgoingRequest]]) -> Iterator[dict[str, Any]]:
    """What ingest makes of the requests (received the moment they were sent)."""
    config = EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP)
    for now, request in sent:
        parsed = parse_request(json.dumps(request.payload).encode(), request.route.rsplit("/", 1)[1])
        prepared = prepare_events(
            parsed, source_id="src", request_id="r", received_at_ms=int(now.timestamp() * 1000), config=config
        )
        for record in prepared.records:
            yield from unpack_record(record.data)


def test_seeded_run_is_reproducible_and_consistent(seeded_run: Any) -> None:
    generator, sent = seeded_run
    # When the ground truth is computed twice
    truth = ground_truth([r for _, r in sent], DAY, generator=generator)
    again = ground_truth([r for _, r in sent], DAY, generator=generator)
    # Then it is the same, and its parts agree with each other
    assert truth == again
    assert truth.active_persons > 50
    assert truth.completers <= truth.adopters <= truth.active_persons
    assert sum(c["reached"] for c in truth.attribution.values()) == truth.active_persons
    assert sum(c["adopted"] for c in truth.attribution.values()) <= truth.adopters
    for counts in truth.funnel.values():
        assert counts["completed"] <= counts["used"] <= counts["viewed"]
    assert {k[1] for k in truth.experiments} == {"A", "B"}
    # And every person of the run is one simulated user
    assert truth.active_persons <= len(generator.users)


def test_identity_stitching_of_the_ingested_run_finds_the_generators_persons(seeded_run: Any) -> None:
    # Given the seeded run as the lake will hold it (ingest's enrichment of the same requests)
    generator, sent = seeded_run
    events = list(enriched_events(sent))
    truth = ground_truth([r for _, r in sent], DAY, generator=generator)
    # When the events are attributed to persons through the identity rules
    persons = resolve_persons(links_from_events(events))
    person_keys = {person_of(persons, e["user_id"], e["anonymous_id"]) for e in events}
    adopters = {
        person_of(persons, e["user_id"], e["anonymous_id"]) for e in events if e["stage"] in ("use", "complete")
    }
    # Then the persons are the generator's: counting per person equals the ground truth
    assert len(person_keys) == truth.active_persons
    assert len(adopters) == truth.adopters
    # While counting per id (the old coalesce(user_id, anonymous_id)) counts signed-in visitors twice
    per_id = {e["user_id"] or e["anonymous_id"] for e in events}
    assert len(per_id) > truth.active_persons


def test_segments_and_audiences_follow_the_plan_of_identify_and_name_signed_in_persons_by_user_id() -> None:
    # Given a visitor who signs in on the team plan and only views, an anonymous visitor who uses the feature,
    # and a signed-in member without a plan who uses it without completing it
    identify = message("a1", 1, "identify", user="u1")
    identify.payload["traits"] = {"plan": "team"}
    sent = [
        identify,
        message("a1", 2, user="u1", event="Feature Viewed", feature="smart-search"),
        message("a2", 3, event="Feature Viewed", feature="smart-search"),
        message("a2", 4, event="Feature Used", feature="smart-search"),
        message("a3", 5, user="u3", event="Feature Used", feature="smart-search"),
    ]
    truth = ground_truth(sent, DAY)
    # Then the segments count persons by their plan, '(unknown)' without one
    assert truth.segment_active == {"team": 1, "(unknown)": 2}
    assert truth.segment_adopters == {("smart-search", "team"): 0, ("smart-search", "(unknown)"): 2}
    # And the audiences hold only the signed-in persons, by user id, with their plan
    assert truth.audiences == {
        ("smart-search", "viewed-not-adopted"): {("u1", "u1", "team")},
        ("smart-search", "adopted-not-completed"): {("u3", "u3", "")},
    }
