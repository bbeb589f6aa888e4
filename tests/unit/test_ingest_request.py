"""Request bodies: limits, shape, and the split of a batch into stream records and quarantined events."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import orjson
import pytest

from featurepulse.domain.schema import EnrichedEvent
from featurepulse.ingest.limits import MAX_EVENT_BYTES, MAX_GZIP_MEMBERS, MAX_REQUEST_BYTES
from featurepulse.ingest.request import (
    BATCH,
    MalformedRequestError,
    RequestTooLargeError,
    decode_body,
    parse_request,
)
from featurepulse.lake.replay import with_batch_values
from featurepulse.lake.replay_ingest import revalidate_with_ingest
from tests.unit.ingest_request_support import EVENTS, prepare, stream_events


def test_a_mixed_batch_keeps_valid_events_and_quarantines_invalid_ones() -> None:
    # Given the mixed batch: 4 valid events, a track without event, a page without identity, a far-future event
    body = (EVENTS / "segment_batch_mixed.json").read_bytes()

    # When it is prepared
    prepared = prepare(body)

    # Then the valid events are packed for the stream, in order per user, and validate as EnrichedEvent
    events = stream_events(prepared)
    assert sorted(e["event_id"] for e in events) == ["mixed-0", "mixed-2", "mixed-4", "mixed-6"]
    user_1 = [e["event_id"] for e in events if e["user_id"] == "user-1"]
    assert user_1 == ["mixed-0", "mixed-2", "mixed-6"]
    assert prepared.accepted == 4
    for event in events:
        EnrichedEvent.model_validate(event)
    # And the invalid ones are listed by index with their reason and quarantined with the raw event
    assert [(r.index, r.reason) for r in prepared.rejections] == [
        (1, "track needs event: a non-empty string naming what the user did"),
        (3, "userId or anonymousId is required"),
        (5, "timestamp is more than 86400 s in the future after clock-skew correction"),
    ]
    quarantined = prepared.quarantined
    assert [q.index for q in quarantined] == [1, 3, 5]
    assert [q.message_id for q in quarantined] == ["mixed-1", "mixed-3", "mixed-5"]
    assert quarantined[0].user_id == "user-2"
    assert quarantined[0].source_id == "src_test"
    assert quarantined[0].request_id == "req-1"
    raw = json.loads(quarantined[2].raw)
    assert raw["timestamp"] == "2999-01-01T00:00:00.000Z"


def test_quarantined_events_never_keep_the_whole_ip_or_the_write_key() -> None:
    # Given a single invalid event carrying context.ip and writeKey in its body
    body = orjson.dumps({"writeKey": "secret-key", "event": "", "userId": "u", "context": {"ip": "192.0.2.55"}})

    # When it is prepared on /v1/track
    prepared = prepare(body, "track")

    # Then its quarantine row has neither the IP nor the write key, and keeps the rest
    (row,) = prepared.quarantined
    assert "192.0.2.55" not in row.raw
    assert "secret-key" not in row.raw
    assert json.loads(row.raw) == {"event": "", "userId": "u", "context": {}, "type": "track"}


def test_a_quarantined_event_fixed_and_replayed_is_the_event_the_batch_would_have_stored() -> None:
    # Given the mixed batch, whose event 1 (a track without event name) relies on the batch sentAt and context
    body = (EVENTS / "segment_batch_mixed.json").read_bytes()
    prepared = prepare(body)
    rows = with_batch_values(prepared.quarantined)
    row = next(q for q in rows if q.index == 1)

    # When its raw event is fixed and re-validated as a replay does (its batch values restored from the request's
    # quarantine rows)
    fixed = row.model_copy(update={"raw": orjson.dumps({**json.loads(row.raw), "event": "Feature Viewed"}).decode()})
    replayed = revalidate_with_ingest(fixed)

    # Then it is the event the batch would have stored: same type, corrected time, merged context, ip prefix
    batch = json.loads(body)
    batch["batch"] = [{**batch["batch"][1], "event": "Feature Viewed"}]
    (original,) = stream_events(prepare(orjson.dumps(batch)))
    assert orjson.loads(orjson.dumps(replayed)) == original
    assert original["ip_prefix"] == "192.0.2.0/24"  # kept as the prefix: the whole IP is not in the quarantine
    assert "192.0.2." not in row.raw + (row.batch or "")


def test_a_resent_invalid_event_gets_the_same_quarantine_id() -> None:
    # Given the same invalid event sent in two requests
    body = orjson.dumps({"batch": [{"type": "track", "userId": "u", "messageId": "m"}]})

    # When both are prepared
    first, second = prepare(body), prepare(body)

    # Then the quarantine ids match, so the quarantine can be deduplicated
    assert first.quarantined[0].quarantine_id == second.quarantined[0].quarantine_id


def test_the_events_of_one_user_share_a_partition_key_and_a_record() -> None:
    # Given three events of one user and one of another
    batch = [{"type": "track", "event": "e", "userId": u, "messageId": f"m{i}"} for i, u in enumerate("aaab")]

    # When they are prepared
    prepared = prepare(orjson.dumps({"batch": batch}))

    # Then the user's events travel in one record keyed by the user, in order
    by_key = {r.partition_key: r for r in prepared.records}
    assert set(by_key) == {"a", "b"}
    assert by_key["a"].event_ids == ("m0", "m1", "m2")


def test_an_anonymous_event_is_keyed_by_its_anonymous_id() -> None:
    # Given an event with only an anonymousId
    prepared = prepare(orjson.dumps({"batch": [{"type": "page", "anonymousId": "anon-1"}]}))

    # When it is packed / Then the partition key is the anonymous id
    assert [r.partition_key for r in prepared.records] == ["anon-1"]


def test_a_request_over_500_kb_is_refused_with_413() -> None:
    # Given a batch body just over 500 KB
    event = {"type": "track", "event": "e", "userId": "u", "properties": {"pad": "x" * 1000}}
    body = orjson.dumps({"batch": [event] * 600})
    assert len(body) > MAX_REQUEST_BYTES

    # When it is parsed / Then it is refused as too large, with the limit in the reason
    with pytest.raises(RequestTooLargeError, match="512000 bytes") as refused:
        parse_request(body, BATCH)
    assert refused.value.status == 413
    assert refused.value.error == "request_too_large"


def test_a_single_event_over_32_kb_is_refused_with_413() -> None:
    # Given a track call of 33 KB
    body = orjson.dumps({"event": "e", "userId": "u", "properties": {"pad": "x" * MAX_EVENT_BYTES}})

    # When it is parsed on /v1/track / Then it is refused as too large
    with pytest.raises(RequestTooLargeError, match="32 KB") as refused:
        parse_request(body, "track")
    assert refused.value.error == "event_too_large"


def test_an_event_over_32_kb_in_a_batch_is_rejected_alone() -> None:
    # Given a batch with a normal event and a 33 KB one
    big = {"type": "track", "event": "e", "userId": "u", "properties": {"pad": "x" * MAX_EVENT_BYTES}}
    small = {"type": "track", "event": "e", "userId": "u", "messageId": "ok"}

    # When it is prepared
    prepared = prepare(orjson.dumps({"batch": [small, big]}))

    # Then the small one is accepted and the big one rejected and quarantined with its reason
    assert [e["event_id"] for e in stream_events(prepared)] == ["ok"]
    assert [(r.index, r.reason) for r in prepared.rejections] == [(1, "the event is larger than 32768 bytes (32 KB)")]
    assert len(prepared.quarantined[0].raw) > MAX_EVENT_BYTES


@pytest.mark.parametrize(
    ("body", "route", "error", "reason"),
    [
        (b"", BATCH, "malformed_json", "the body is empty"),
        (b"{not json", BATCH, "malformed_json", "not valid JSON"),
        (b"[1, 2]", BATCH, "malformed_json", "must be a JSON object"),
        (b'"track"', "track", "malformed_json", "must be a JSON object"),
        (b'{"events": []}', BATCH, "malformed_batch", "batch must be a non-empty array"),
        (b'{"batch": []}', BATCH, "malformed_batch", "batch must be a non-empty array"),
        (b'{"batch": {"type": "track"}}', BATCH, "malformed_batch", "batch must be a non-empty array"),
        (b'{"batch": [{}], "context": 3}', BATCH, "malformed_batch", "context must be a JSON object"),
    ],
)
def test_malformed_bodies_are_refused_with_400_and_a_reason(body: bytes, route: str, error: str, reason: str) -> None:
    # Given a malformed body / When it is parsed / Then it is refused with 400 and a reason
    with pytest.raises(MalformedRequestError, match=reason) as refused:
        parse_request(body, route)
    assert refused.value.status == 400
    assert refused.value.error == error


@pytest.mark.parametrize("sent_at", ["later", 17, "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_an_unusable_batch_sent_at_is_ignored_with_a_warning_instead_of_refusing_the_batch(sent_at: Any) -> None:
    # Given a batch whose sentAt is not a usable time
    body = orjson.dumps({"batch": [{"type": "identify", "userId": "u"}], "sentAt": sent_at})

    # When it is parsed / Then the batch is read without a batch sentAt, and a warning says why
    parsed = parse_request(body, BATCH)
    assert parsed.sent_at_ms is None and len(parsed.events) == 1
    assert len(parsed.warnings) == 1
    assert parsed.warnings[0].startswith("the batch sentAt ")
    assert "ignored for clock-skew correction" in parsed.warnings[0]


def test_the_write_key_is_read_from_the_body() -> None:
    # Given bodies with and without a writeKey
    # When they are parsed / Then the key is read when it is a non-empty string
    assert parse_request(b'{"batch": [{}], "writeKey": "k1"}', BATCH).write_key == "k1"
    assert parse_request(b'{"writeKey": "k2", "userId": "u"}', "identify").write_key == "k2"
    assert parse_request(b'{"batch": [{}], "writeKey": 5}', BATCH).write_key is None
    assert parse_request(b'{"batch": [{}]}', BATCH).write_key is None


def test_gzip_and_base64_bodies_are_decoded() -> None:
    # Given a JSON body gzip-compressed, as text and as an API Gateway base64 binary body
    body = orjson.dumps({"batch": [{"type": "identify", "userId": "u"}]})
    compressed = gzip.compress(body)

    # When they are decoded / Then the JSON comes back
    assert decode_body(body.decode(), is_base64=False) == body
    assert decode_body(base64.b64encode(compressed).decode(), is_base64=True) == body
    assert decode_body(None, is_base64=False) == b""


def test_a_gzip_bomb_is_refused_as_too_large_with_a_reason() -> None:
    # Given 10 MB of zeros gzip-compressed into a few KB
    bomb = gzip.compress(b"0" * 10_000_000)

    # When it is decoded / Then it is refused as too large (413) with a reason, before it is parsed
    with pytest.raises(RequestTooLargeError, match="inflates to more than 512000 bytes") as refused:
        decode_body(base64.b64encode(bomb).decode(), is_base64=True)
    assert refused.value.status == 413 and refused.value.error == "request_too_large"


def test_every_member_of_a_multi_member_gzip_body_is_inflated() -> None:
    # Given a batch split over two gzip members (what `cat a.gz b.gz` or a streaming client produces)
    body = orjson.dumps({"batch": [{"type": "identify", "userId": "u"}]})
    compressed = gzip.compress(body[:10]) + gzip.compress(body[10:])

    # When it is decoded / Then the whole body comes back, not only the first member
    assert decode_body(base64.b64encode(compressed).decode(), is_base64=True) == body


def test_a_gzip_bomb_split_over_members_is_refused_as_too_large() -> None:
    # Given members that each inflate within the request limit but together far past it
    member = gzip.compress(b" " * (MAX_REQUEST_BYTES // 2))
    bomb = member * 40

    # When it is decoded / Then the limit holds over all members together
    with pytest.raises(RequestTooLargeError, match="inflates to more than"):
        decode_body(base64.b64encode(bomb).decode(), is_base64=True)


def test_a_gzip_body_of_more_members_than_events_a_batch_may_hold_is_malformed() -> None:
    # Given 5,001 empty gzip members and then the JSON (each member costs an inflater, even an empty one)
    body = gzip.compress(b"") * MAX_GZIP_MEMBERS + gzip.compress(b"{}")

    # When it is decoded / Then it is refused with a reason
    with pytest.raises(MalformedRequestError, match="more than 5000 gzip members"):
        decode_body(base64.b64encode(body).decode(), is_base64=True)


def test_a_truncated_gzip_body_is_malformed() -> None:
    # Given a gzip body cut short
    whole = gzip.compress(b'{"batch": [{"type": "identify", "userId": "u"}]}')

    # When it is decoded / Then it is refused as malformed instead of parsed from the part that inflated
    with pytest.raises(MalformedRequestError, match="truncated"):
        decode_body(base64.b64encode(whole[:-6]).decode(), is_base64=True)


def test_bad_base64_and_bad_gzip_are_malformed() -> None:
    # Given a body marked base64 that is not, and a body with the gzip magic that does not inflate
    # When they are decoded / Then both are refused as malformed
    with pytest.raises(MalformedRequestError, match="base64"):
        decode_body("!!!", is_base64=True)
    with pytest.raises(MalformedRequestError, match="gzip"):
        decode_body(base64.b64encode(b"\x1f\x8b garbage").decode(), is_base64=True)
