"""Enrichment of one Segment event into the enriched event (docs/design.md sections 1 and 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from featurepulse.domain.schema import EnrichedEvent
from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from featurepulse.ingest.enrich import (
    EnrichmentConfig,
    RequestInfo,
    country_from_locale,
    enrich_event,
    generated_event_id,
)
from featurepulse.ingest.timestamps import parse_iso_ms

EVENTS = Path(__file__).parent.parent / "events"
RECEIVED_AT = "2026-11-25T12:00:01.500Z"
CONFIG = EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP)


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def request(**overrides: Any) -> RequestInfo:
    values: dict[str, Any] = {"source_id": "src_test", "received_at_ms": parse_iso_ms(RECEIVED_AT)}
    values.update(overrides)
    return RequestInfo(**values)


def line_of(enriched: dict[str, Any]) -> dict[str, Any]:
    """The enriched event as it is on the stream: one JSON line, parsed."""
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(enriched))
    return parsed


def enrich(raw: Any, event_type: str | None = None, **overrides: Any) -> dict[str, Any]:
    return line_of(enrich_event(raw, event_type, request(**overrides), CONFIG))


def test_a_feature_track_event_from_a_browser_fills_every_column() -> None:
    # Given a Feature Used track event from analytics.js with campaign, experiment and a skewed clock
    raw = load("segment_track_feature_used.json")

    # When it is enriched
    out = enrich(raw)

    # Then every column is filled from the event, the clock skew corrected and the IP truncated
    assert out == {
        "event_id": raw["messageId"],
        "source_id": "src_test",
        "type": "track",
        "event": "Feature Used",
        "feature": "smart-reports",
        "stage": "use",
        "user_id": "user-4217",
        "anonymous_id": "7f3c2a91-0b5e-4d8f-a6c1-93e2b7d4f015",
        "session_id": "1764071940000",
        # sent 1.75 s after it happened, received at 12:00:01.500 -> happened at 11:59:59.750
        "timestamp": "2026-11-25T11:59:59.750Z",
        "sent_at": "2026-11-25T12:00:00.000Z",
        "received_at": RECEIVED_AT,
        "campaign_name": "winter_launch",
        "campaign_source": "newsletter",
        "campaign_medium": "email",
        "campaign_term": "reports",
        "campaign_content": "hero",
        "experiment_id": "exp-onboarding-v2",
        "variation_id": "treatment",
        "duration_ms": 4200,
        "platform": "web",
        "app_version": None,
        "country": "GB",
        "ip_prefix": "203.0.113.0/24",
        "user_agent": raw["context"]["userAgent"],
        "properties": orjson.dumps(raw["properties"]).decode(),
        "context": out["context"],
        "schema_version": 1,
    }
    stored_context = json.loads(out["context"])
    assert "ip" not in stored_context
    assert stored_context == {k: v for k, v in raw["context"].items() if k != "ip"}
    EnrichedEvent.model_validate(out)


def test_the_raw_event_is_left_as_sent() -> None:
    # Given an event with context.ip
    raw = load("segment_track_feature_used.json")
    before = json.dumps(raw, sort_keys=True)

    # When it is enriched
    enrich(raw)

    # Then the raw event still has its IP (the quarantine path reads it) and is otherwise unchanged
    assert json.dumps(raw, sort_keys=True) == before


def test_a_mobile_screen_event_takes_platform_version_and_ipv6_prefix_from_context() -> None:
    # Given a screen event from analytics-ios with an IPv6 address and no sentAt
    raw = load("segment_screen_mobile.json")

    # When it is enriched
    out = enrich(raw)

    # Then platform, app version, session, country and the /48 prefix come from context and properties
    assert out["type"] == "screen"
    assert out["event"] == "Report Builder"
    assert out["stage"] is None
    assert out["platform"] == "iOS"
    assert out["app_version"] == "5.12.0"
    assert out["session_id"] == "mobile-session-77"
    assert out["country"] == "DE"
    assert out["ip_prefix"] == "2001:db8:85a3::/48"
    assert out["user_id"] is None
    # Without sentAt the client's timestamp is kept (sub-milliseconds truncated)
    assert out["timestamp"] == "2026-11-25T11:59:30.123Z"
    assert out["sent_at"] is None
    assert "2001:db8" not in out["context"]


def test_page_category_joins_the_stored_properties() -> None:
    # Given a page call with a category
    raw = load("segment_page.json")

    # When it is enriched
    out = enrich(raw)

    # Then the page name is the event, the category is kept in properties, the campaign is read
    assert out["event"] == "Pricing"
    assert json.loads(out["properties"]) == {**raw["properties"], "category": "Marketing"}
    assert (out["campaign_name"], out["campaign_source"], out["campaign_medium"]) == (
        "partner_week",
        "partner",
        "referral",
    )
    assert out["campaign_term"] is None
    assert out["country"] == "FR"


@pytest.mark.parametrize(
    ("sample", "payload"),
    [
        ("segment_identify.json", {"email": "ada@example.com", "plan": "pro", "company": "Example Inc"}),
        (
            "segment_group.json",
            {"groupId": "acct-981", "traits": {"name": "Example Inc", "plan": "enterprise", "employees": 240}},
        ),
        ("segment_alias.json", {"previousId": "7f3c2a91-0b5e-4d8f-a6c1-93e2b7d4f015"}),
    ],
)
def test_identify_group_and_alias_store_their_payload_as_properties(sample: str, payload: dict[str, Any]) -> None:
    # Given an identify, group or alias call
    raw = load(sample)

    # When it is enriched
    out = enrich(raw)

    # Then its payload is the stored properties, and it has no event name, stage or feature
    assert out["type"] == raw["type"]
    assert json.loads(out["properties"]) == payload
    assert (out["event"], out["stage"], out["feature"]) == (None, None, None)
    EnrichedEvent.model_validate(out)


def test_experiment_viewed_carries_the_assignment() -> None:
    # Given an Experiment Viewed event
    raw = load("segment_experiment_viewed.json")

    # When it is enriched
    out = enrich(raw)

    # Then the experiment and variation are columns, and it is no funnel stage
    assert (out["experiment_id"], out["variation_id"]) == ("exp-onboarding-v2", "treatment")
    assert out["stage"] is None
    assert out["feature"] is None


def test_the_stage_map_is_configuration() -> None:
    # Given a stage map that maps a custom event name
    config = EnrichmentConfig(stage_map={"Report Exported": "complete"})
    raw = {"type": "track", "event": "Report Exported", "userId": "u"}

    # When an event with that name is enriched
    out = line_of(enrich_event(raw, None, request(), config))

    # Then it gets the configured stage, and the default names no longer map
    assert out["stage"] == "complete"
    assert line_of(enrich_event({**raw, "event": "Feature Used"}, None, request(), config))["stage"] is None


def test_the_route_type_wins_over_the_body_type() -> None:
    # Given a body that says page, sent to /v1/track
    raw = {"type": "page", "event": "Feature Viewed", "userId": "u"}

    # When it is enriched as a track call
    out = enrich(raw, "track")

    # Then it is a track event
    assert out["type"] == "track"
    assert out["stage"] == "view"


def test_a_viewer_country_header_wins_over_the_locale() -> None:
    # Given an event with locale en-US, received through CloudFront from Canada
    raw = {"type": "track", "event": "x", "userId": "u", "context": {"locale": "en-US"}}

    # When it is enriched
    out = enrich(raw, viewer_country="CA")

    # Then the country is the header's
    assert out["country"] == "CA"


def test_without_context_ip_the_source_ip_is_truncated() -> None:
    # Given an event without context.ip, sent from 192.0.2.200
    raw = {"type": "track", "event": "x", "userId": "u"}

    # When it is enriched
    out = enrich(raw, source_ip="192.0.2.200")

    # Then the stored prefix is the source IP's /24 and the whole address appears nowhere
    assert out["ip_prefix"] == "192.0.2.0/24"
    assert "192.0.2.200" not in json.dumps(out)


def test_an_invalid_context_ip_falls_back_to_the_source_ip_and_is_still_removed() -> None:
    # Given a context.ip that is not an IP address
    raw = {"type": "track", "event": "x", "userId": "u", "context": {"ip": "unknown", "locale": "en"}}

    # When it is enriched
    out = enrich(raw, source_ip="192.0.2.200")

    # Then the source IP gives the prefix and the bogus value is not stored
    assert out["ip_prefix"] == "192.0.2.0/24"
    assert json.loads(out["context"]) == {"locale": "en"}


def test_batch_context_is_merged_under_the_event_context() -> None:
    # Given a batch-level context and an event with its own locale
    raw = {"type": "track", "event": "x", "userId": "u", "context": {"locale": "de-DE"}}
    batch_context = {"library": {"name": "analytics-python"}, "locale": "en-US"}

    # When the event is enriched with the batch context
    out = enrich(raw, context=batch_context)

    # Then the batch's keys are added and the event's keys win
    assert json.loads(out["context"]) == {"library": {"name": "analytics-python"}, "locale": "de-DE"}
    assert out["platform"] == "analytics-python"
    assert out["country"] == "DE"


def test_a_batch_sent_at_corrects_events_without_their_own() -> None:
    # Given an event stamped 10 s before a batch sent at a clock 1 hour fast
    raw = {"type": "track", "event": "x", "userId": "u", "timestamp": "2026-11-25T13:00:00.000Z"}
    sent_at = parse_iso_ms("2026-11-25T13:00:10.000Z")

    # When it is enriched with the batch's sentAt
    out = enrich(raw, sent_at_ms=sent_at)

    # Then it happened 10 s before the server received it
    assert out["timestamp"] == "2026-11-25T11:59:51.500Z"
    assert out["sent_at"] == "2026-11-25T13:00:10.000Z"


def test_an_event_without_timestamp_happened_when_received() -> None:
    # Given an event with no timestamp
    raw = {"type": "identify", "userId": "u"}

    # When it is enriched
    out = enrich(raw)

    # Then its time is the receive time
    assert out["timestamp"] == RECEIVED_AT


def test_original_timestamp_is_used_when_timestamp_is_absent() -> None:
    # Given an event with only originalTimestamp and sentAt
    raw = {
        "type": "track",
        "event": "x",
        "userId": "u",
        "originalTimestamp": "2026-11-25T12:00:00.000Z",
        "sentAt": "2026-11-25T12:00:03.000Z",
    }

    # When it is enriched
    out = enrich(raw)

    # Then the skew rule applies to originalTimestamp
    assert out["timestamp"] == "2026-11-25T11:59:58.500Z"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ([1, 2], "an event must be a JSON object"),
        ({"event": "x", "userId": "u"}, "type is required"),
        ({"type": "purchase", "userId": "u"}, "unknown type 'purchase'"),
        ({"type": "track", "event": "x"}, "userId or anonymousId is required"),
        ({"type": "track", "event": "x", "userId": "", "anonymousId": None}, "userId or anonymousId is required"),
        ({"type": "track", "userId": "u"}, "track needs event"),
        ({"type": "track", "event": "", "userId": "u"}, "track needs event"),
        ({"type": "track", "event": 3, "userId": "u"}, "track needs event"),
        ({"type": "track", "event": "x", "userId": True}, "userId must be a string"),
        ({"type": "track", "event": "x", "userId": "u" * 257}, "userId is longer than 256 characters"),
        ({"type": "track", "event": "x", "userId": "u", "messageId": 7}, "messageId must be a string"),
        ({"type": "track", "event": "x", "userId": "u", "properties": []}, "properties must be a JSON object"),
        ({"type": "track", "event": "x", "userId": "u", "context": "web"}, "context must be a JSON object"),
        ({"type": "identify", "userId": "u", "traits": 5}, "traits must be a JSON object"),
        ({"type": "group", "userId": "u"}, "group needs groupId"),
        ({"type": "alias", "userId": "u"}, "alias needs previousId"),
        ({"type": "page", "userId": "u", "name": 5}, "name must be a string"),
        ({"type": "track", "event": "x", "userId": "u", "timestamp": "yesterday"}, "timestamp 'yesterday' is not"),
        ({"type": "track", "event": "x", "userId": "u", "timestamp": 1764072000}, "timestamp must be an ISO-8601"),
        ({"type": "track", "event": "x", "userId": "u", "sentAt": "soon"}, "sentAt 'soon' is not"),
    ],
)
def test_invalid_events_are_refused_with_a_reason(raw: Any, reason: str) -> None:
    # Given an invalid event
    # When it is enriched
    # Then it is refused with a reason the client developer can act on
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        enrich(raw)


def test_numeric_ids_are_accepted_as_strings() -> None:
    # Given a userId and a groupId sent as numbers
    raw = {"type": "group", "userId": 42, "groupId": 981}

    # When it is enriched
    out = enrich(raw)

    # Then they are stored as strings
    assert out["user_id"] == "42"
    assert json.loads(out["properties"])["groupId"] == "981"


def test_timestamps_more_than_the_bound_in_the_future_are_refused() -> None:
    # Given an event 2 days ahead of the receive time after correction (no sentAt to correct it)
    raw = {"type": "track", "event": "x", "userId": "u", "timestamp": "2026-11-27T12:00:02.000Z"}

    # When it is enriched with the default bound (1 day) and with a 3-day bound
    # Then the default refuses it, the wider bound accepts it
    with pytest.raises(ValueError, match="in the future after clock-skew correction"):
        enrich(raw)
    wide = EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP, max_future_ms=3 * 86_400_000)
    assert line_of(enrich_event(raw, None, request(), wide))["timestamp"] == "2026-11-27T12:00:02.000Z"


def test_a_skewed_clock_is_corrected_even_far_in_the_future() -> None:
    # Given a device whose clock is a year ahead: timestamp and sentAt both in 2027
    raw = {
        "type": "track",
        "event": "x",
        "userId": "u",
        "timestamp": "2027-11-25T12:00:00.000Z",
        "sentAt": "2027-11-25T12:00:05.000Z",
    }

    # When it is enriched
    out = enrich(raw)

    # Then the event is placed 5 s before the receive time
    assert out["timestamp"] == "2026-11-25T11:59:56.500Z"


def test_timestamps_before_2000_are_refused() -> None:
    # Given a device clock reset to 1970 and no sentAt to correct it
    raw = {"type": "track", "event": "x", "userId": "u", "timestamp": "1970-01-01T00:00:05.000Z"}

    # When it is enriched
    # Then it is refused
    with pytest.raises(ValueError, match="before 2000-01-01"):
        enrich(raw)


def test_durations_are_whole_non_negative_milliseconds() -> None:
    # Given durations as int, float, negative, string and bool
    def duration(value: Any) -> Any:
        return enrich({"type": "track", "event": "x", "userId": "u", "properties": {"duration_ms": value}})[
            "duration_ms"
        ]

    # When they are enriched
    # Then ints and floats are kept (rounded), anything else is no duration
    assert duration(1500) == 1500
    assert duration(1500.6) == 1501
    assert duration(-3) is None
    assert duration("1500") is None
    assert duration(True) is None
    assert duration(float("inf")) is None


def test_events_without_message_id_get_an_id_stable_across_resends() -> None:
    # Given an event without messageId, sent twice with a different sentAt and write key
    raw = {"type": "track", "event": "x", "userId": "u", "timestamp": "2026-11-25T11:00:00.000Z"}
    first = enrich({**raw, "sentAt": "2026-11-25T11:00:01.000Z"})
    again = enrich({**raw, "sentAt": "2026-11-25T11:05:00.000Z", "writeKey": "k"})

    # When they are enriched
    # Then both get the same generated id, which differs for another source or another event
    assert first["event_id"] == again["event_id"]
    assert first["event_id"].startswith("fp-")
    assert generated_event_id("other_source", raw) != first["event_id"]
    assert enrich({**raw, "event": "y"})["event_id"] != first["event_id"]


@pytest.mark.parametrize(
    ("locale", "country"),
    [("en-US", "US"), ("en_GB.UTF-8", "GB"), ("zh-Hant-TW", "TW"), ("en", None), ("es-419", None), ("", None)],
)
def test_country_from_locale(locale: str, country: str | None) -> None:
    # Given a locale / When its country is read / Then it is the region subtag
    assert country_from_locale(locale) == country


def test_client_chosen_locales_of_any_length_do_not_accumulate_in_memory() -> None:
    # Given events that each carry a different 20 KB locale (a client chooses the locale)
    import tracemalloc

    def event(i: int) -> dict[str, Any]:
        return {"type": "track", "event": "e", "userId": "u", "context": {"locale": f"{i}-" + "x" * 20_000}}

    enrich(event(-1))  # warm-up: first-call allocations are not counted
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()

        # When 300 of them are enriched one after another, each dropped once enriched
        for i in range(300):
            enrich(event(i))

        # Then the process keeps far less than the 6 MB of locales it saw (no cache holds them)
        grown = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    assert grown < 1_000_000
