"""The synthetic traffic generator: realistic, Segment-shaped, deterministic for a seed."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from featurepulse.domain.schema import parse_timestamp
from featurepulse.domain.stages import EXPERIMENT_VIEWED
from featurepulse.local.traffic import (
    EXPERIMENT_ID,
    FEATURES,
    INVALID_KINDS,
    INVALID_NO_IDENTITY,
    INVALID_OVERSIZE,
    INVALID_TRACK_WITHOUT_EVENT,
    MAX_EVENTS_PER_BATCH,
    TrafficGenerator,
    TrafficStats,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _run(seed=7, ticks=40, per_tick=25, **kwargs):
    generator = TrafficGenerator(seed, **kwargs)
    requests = []
    for i in range(ticks):
        requests += generator.tick(NOW + timedelta(seconds=i), per_tick)
    return requests


def _messages(requests):
    for request in requests:
        bodies = request.payload["batch"] if request.route == "/v1/batch" else [request.payload]
        yield from zip(bodies, request.messages, strict=True)


@pytest.fixture(scope="module")
def requests():
    return _run()


def test_the_same_seed_and_clock_give_the_same_requests():
    # Given two generators with the same seed
    # When both run the same ticks
    first, second = _run(seed=11, ticks=10), _run(seed=11, ticks=10)
    # Then they send byte-identical requests
    assert [(r.route, json.dumps(r.payload)) for r in first] == [(r.route, json.dumps(r.payload)) for r in second]


def test_another_seed_gives_other_requests():
    assert [json.dumps(r.payload) for r in _run(seed=1, ticks=5)] != [
        json.dumps(r.payload) for r in _run(seed=2, ticks=5)
    ]


def test_each_tick_sends_the_number_of_valid_events_asked_for(requests):
    # Given 40 ticks of 25 events
    valid = [m for _, m in _messages(requests) if m.invalid is None]
    # Then exactly 1000 valid events were planned (invalid ones come on top)
    assert len(valid) == 40 * 25


def test_valid_messages_are_segment_spec_messages(requests):
    for body, meta in _messages(requests):
        if meta.invalid is not None:
            continue
        assert body["type"] == meta.type
        assert body["messageId"] == meta.message_id
        assert body.get("userId") or body.get("anonymousId")
        parse_timestamp(body["timestamp"])
        if body["type"] == "track":
            assert body["event"]
        if body["type"] == "group":
            assert body["groupId"]
        if body["type"] == "alias":
            assert body["previousId"] and body["userId"]
        assert len(json.dumps(body)) < 32 * 1024


def test_every_segment_call_type_and_route_is_exercised(requests):
    types = Counter(m.type for _, m in _messages(requests) if m.invalid is None)
    routes = Counter(r.route for r in requests)
    assert set(types) == {"track", "page", "screen", "identify", "group", "alias"}
    assert "/v1/batch" in routes and "/v1/track" in routes and "/v1/page" in routes


def test_batches_respect_the_segment_limits(requests):
    for request in requests:
        assert len(json.dumps(request.payload).encode()) < 500 * 1024
        if request.route == "/v1/batch":
            assert 1 <= len(request.payload["batch"]) <= MAX_EVENTS_PER_BATCH


def test_each_kind_of_invalid_event_is_sent_and_is_really_invalid(requests):
    # Given the generated traffic
    invalid = [(body, meta) for body, meta in _messages(requests) if meta.invalid is not None]
    # Then every kind appears, only inside batches, and each breaks the rule it is named for
    assert {meta.invalid for _, meta in invalid} == set(INVALID_KINDS)
    for body, meta in invalid:
        if meta.invalid == INVALID_NO_IDENTITY:
            assert "userId" not in body and "anonymousId" not in body
        elif meta.invalid == INVALID_TRACK_WITHOUT_EVENT:
            assert body["type"] == "track" and "event" not in body
        elif meta.invalid == INVALID_OVERSIZE:
            assert len(json.dumps(body).encode()) > 32 * 1024
    assert all(r.route == "/v1/batch" for r in requests if any(m.invalid for m in r.messages))


def test_feature_funnels_narrow_from_view_to_use_to_complete(requests):
    stages = Counter((m.feature, m.stage) for _, m in _messages(requests) if m.stage)
    for spec in FEATURES:
        views, uses, completes = (stages[(spec.feature_id, s)] for s in ("view", "use", "complete"))
        assert views > 0
        assert views >= uses >= completes


def test_feature_events_carry_the_feature_and_completions_the_time_on_feature(requests):
    for body, meta in _messages(requests):
        if meta.stage is not None:
            assert body["properties"]["feature"] == meta.feature
        if meta.stage == "complete":
            assert body["properties"]["duration_ms"] > 0


def test_users_are_anonymous_first_and_identified_later(requests):
    # Given the messages of each anonymous id in order
    by_user = defaultdict(list)
    for body, meta in _messages(requests):
        if meta.invalid is None and body.get("anonymousId"):
            by_user[body["anonymousId"]].append(body)
    identified = [msgs for msgs in by_user.values() if any(m["type"] == "identify" for m in msgs)]
    # Then some users identify, and their first message was anonymous
    assert identified
    for msgs in identified:
        assert "userId" not in msgs[0]
        first_identify = next(i for i, m in enumerate(msgs) if m["type"] == "identify")
        assert all("userId" in m for m in msgs[first_identify:])


def test_campaign_context_carries_the_utm_fields(requests):
    campaigns = {
        json.dumps(body["context"]["campaign"], sort_keys=True)
        for body, _ in _messages(requests)
        if "campaign" in body.get("context", {})
    }
    assert len(campaigns) >= 2
    for text in campaigns:
        campaign = json.loads(text)
        assert {"name", "source", "medium"} <= set(campaign)


def test_variant_b_converts_better_than_variant_a():
    # Given a long run, so that the difference is not noise
    requests = _run(seed=3, ticks=120, per_tick=50)
    views, completes, exposures = Counter(), Counter(), Counter()
    for body, meta in _messages(requests):
        props = body.get("properties") or {}
        if meta.event == EXPERIMENT_VIEWED:
            exposures[props["variation_id"]] += 1
        elif props.get("experiment_id") == EXPERIMENT_ID:
            if meta.stage == "view":
                views[props["variation_id"]] += 1
            elif meta.stage == "complete":
                completes[props["variation_id"]] += 1
    # Then both variants were exposed and B's view -> complete conversion is higher
    assert exposures["A"] > 20 and exposures["B"] > 20
    assert completes["B"] / views["B"] > completes["A"] / views["A"]


def test_skewed_device_clocks_keep_sent_at_after_timestamp_on_the_same_clock(requests):
    # Given batches from devices whose clocks may be wrong by minutes
    skewed = 0
    for request in requests:
        sent_at = parse_timestamp(request.payload["sentAt"])
        bodies = request.payload["batch"] if request.route == "/v1/batch" else [request.payload]
        for body in bodies:
            lag = sent_at - parse_timestamp(body["timestamp"])
            # Then each event happened within the second before it was sent, on the device's clock
            assert timedelta(0) <= lag <= timedelta(seconds=1)
        if abs(sent_at - NOW) > timedelta(minutes=1):
            skewed += 1
    assert skewed > 0


def test_stats_count_only_2xx_events_not_listed_as_rejected_as_accepted():
    # Given one batch with a valid and an invalid event
    generator = TrafficGenerator(5, invalid_rate=1.0)
    request = next(r for r in generator.tick(NOW, 1) if r.route == "/v1/batch")
    invalid_index = next(i for i, m in enumerate(request.messages) if m.invalid)
    valid = [m for m in request.messages if m.invalid is None]
    stats = TrafficStats()
    # When the server answered 200 listing the invalid one
    stats.record(request, 200, {"success": True, "rejected": [{"index": invalid_index, "reason": "x"}]})
    # Then the valid ones are accepted and the invalid one counted by kind
    assert stats.accepted_ids == {m.message_id for m in valid}
    assert sum(stats.sent_invalid.values()) == 1
    assert stats.rejected_by_server == 1
    # And events of a request that failed are not accepted
    failed = TrafficStats()
    failed.record(request, 503, None)
    assert failed.accepted_ids == set()
    assert failed.undelivered_valid == len(valid)
