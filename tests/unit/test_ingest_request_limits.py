"""Limits on the event as stored and a quarantine that never multiplies a request (issue 10, amplification)."""

from __future__ import annotations

import gc
import hashlib
import json
import tracemalloc
from typing import Any

import orjson
import pytest

from featurepulse.dal.quarantine import quarantine_body
from featurepulse.domain.packing import unpack_record
from featurepulse.ingest.limits import (
    MAX_BATCH_EVENTS,
    MAX_EVENT_BYTES,
    MAX_QUARANTINE_BYTES_PER_REQUEST,
    MAX_QUARANTINED_RAW_BYTES,
    MAX_REQUEST_BYTES,
    MAX_STORED_BYTES_PER_REQUEST,
)
from featurepulse.ingest.request import (
    BATCH,
    MalformedRequestError,
    RequestTooLargeError,
    decode_body,
    parse_request,
    sent_event_bytes,
)
from featurepulse.lake.replay_ingest import revalidate_with_ingest
from tests.unit.ingest_request_support import prepare, stored_lines, track


def test_an_event_within_32_kb_as_sent_but_over_it_as_stored_is_rejected() -> None:
    # Given a batch context of 20 KB and an event whose own context adds 15 KB: each within 32 KB alone
    body = orjson.dumps(
        {"batch": [track(0, context={"own": "y" * 15_000}), track(1)], "context": {"pad": "x" * 20_000}}
    )

    # When it is prepared
    prepared = prepare(body)

    # Then the merged event is rejected with the stored size in the reason; the other is stored, within 32 KB
    assert [r.index for r in prepared.rejections] == [0]
    assert "as stored (" in prepared.rejections[0].reason
    assert [json.loads(line)["event_id"] for line in stored_lines(prepared)] == ["m-1"]
    assert all(len(line) <= MAX_EVENT_BYTES for line in stored_lines(prepared))


def test_a_batch_context_over_32_kb_rejects_the_events_that_inherit_it_without_merging_it() -> None:
    # Given a 40 KB batch context; event 0 inherits it whole, event 1 overrides its only key
    body = orjson.dumps({"batch": [track(0), track(1, context={"pad": "small"})], "context": {"pad": "x" * 40_000}})

    # When it is prepared
    prepared = prepare(body)

    # Then event 0 is rejected as too large as stored; event 1 stores its own value
    assert [(r.index, r.reason) for r in prepared.rejections] == [
        (0, "the event as stored, with the batch context merged, is larger than 32768 bytes (32 KB)")
    ]
    (line,) = stored_lines(prepared)
    assert json.loads(json.loads(line)["context"]) == {"pad": "small"}


def test_the_quarantine_keeps_the_batch_values_once_per_request() -> None:
    # Given 400 invalid tiny events (no event name), a 300 KB batch context and a batch sentAt
    context = {f"k{i}": "v" * 290 for i in range(1000)}
    events = [{"type": "track", "userId": f"u-{i}"} for i in range(400)]
    body = orjson.dumps({"batch": events, "context": context, "sentAt": "2026-11-25T12:00:00Z"})

    # When it is prepared
    prepared = prepare(body)

    # Then the quarantine (as written to S3) is O(request size), not 400 copies of the context
    assert len(prepared.quarantined) == 400
    assert len(quarantine_body(prepared.quarantined)) <= 2 * len(body)
    # And each row's raw is the event as the client sent it; the first row carries the batch values whole and
    # the others name it
    assert [json.loads(q.raw) for q in prepared.quarantined] == events
    first, *others = prepared.quarantined
    assert json.loads(first.batch or "") == {"sentAt": "2026-11-25T12:00:00.000Z", "context": context}
    assert first.batch_index is None
    assert all(q.batch is None and q.batch_index == 0 for q in others)


def test_the_batch_values_kept_in_the_quarantine_have_no_ip() -> None:
    # Given an invalid event in a batch whose context holds the client's address, at the top and deeper down
    context = {"ip": "203.0.113.77", "device": {"IP": "203.0.113.78"}, "locale": "en-GB"}
    body = orjson.dumps({"batch": [{"type": "track", "userId": "u"}], "context": context})

    # When it is prepared / Then the batch values keep the rest of the context, and the row keeps only the
    # prefix ingest would have stored
    (row,) = prepare(body).quarantined
    assert json.loads(row.batch or "") == {"context": {"device": {}, "locale": "en-GB"}}
    assert row.ip_prefix == "203.0.113.0/24"
    assert "203.0.113.7" not in row.model_dump_json()


def test_a_batch_of_more_than_the_event_limit_is_refused_with_413() -> None:
    # Given a batch of tiny (invalid) events, one more than the limit
    body = orjson.dumps({"batch": [1] * (MAX_BATCH_EVENTS + 1)})

    # When it is parsed / Then it is refused as a whole, before any row is made
    with pytest.raises(RequestTooLargeError, match="5000 per request") as refused:
        parse_request(body, BATCH)
    assert refused.value.error == "too_many_events"


@pytest.mark.parametrize("count", [12_000, 17_000])
def test_the_32_kb_limit_counts_the_same_bytes_on_a_single_event_route_and_in_a_batch(count: int) -> None:
    # Given an event of `count` "é" written as \u00e9 escapes in the body (6 bytes each; 2 in UTF-8)
    event = track(0, properties={"note": "\u00e9" * count})
    single_body = json.dumps(event).encode()
    batch_body = json.dumps({"batch": [event]}).encode()

    # When it is measured on /v1/track and in a batch
    within = sent_event_bytes(event) <= MAX_EVENT_BYTES
    if within:
        single = prepare(single_body, "track")
        batch = prepare(batch_body)
        # Then both routes accept it
        assert (single.accepted, batch.accepted) == (1, 1)
    else:
        # Then both routes refuse it: the single call as a whole, the batch event alone
        with pytest.raises(RequestTooLargeError):
            parse_request(single_body, "track")
        assert [r.index for r in prepare(batch_body).rejections] == [0]
    assert len(single_body) > MAX_EVENT_BYTES  # the body alone would have refused both sizes


def test_a_type_nested_1000_levels_deep_is_rejected_alone_with_a_short_reason() -> None:
    # Given a batch whose first event's type is an array nested 1,000 levels deep (orjson parses up to 1024)
    deep = b"[" * 1000 + b"]" * 1000
    body = b'{"batch": [{"type": ' + deep + b', "event": "e", "userId": "u"}, ' + orjson.dumps(track(1)) + b"]}"

    # When it is prepared / Then only that event is rejected, with a reason that does not print the value
    prepared = prepare(body)
    assert prepared.accepted == 1
    assert [(r.index, r.reason) for r in prepared.rejections] == [
        (0, "unknown type (a JSON array): expected one of track, page, screen, identify, group, alias")
    ]


def test_a_body_with_a_lone_surrogate_character_is_malformed() -> None:
    # Given a proxy-event body (text) holding a lone surrogate / When it is decoded / Then 400 with a reason
    with pytest.raises(MalformedRequestError, match="lone surrogate"):
        decode_body('{"batch": [{"event": "\ud800"}]}', is_base64=False)


def test_a_too_deep_event_in_a_batch_over_32_kb_is_rejected_for_its_depth() -> None:
    # Given a batch over 32 KB (so events are measured) with an event nested 300 levels deep
    body = orjson.dumps({"batch": [track(0, properties={"pad": "x" * MAX_EVENT_BYTES})]})[:-2]
    body += b', {"type": "track", "event": "e", "userId": "u", "properties": {"d": ' + b"[" * 300 + b'"leaf"'
    body += b"]" * 300 + b"}}]}"

    # When it is prepared / Then the deep event's reason is its depth, not a size
    prepared = prepare(body)
    reasons = {r.index: r.reason for r in prepared.rejections}
    assert reasons[1] == "the event is nested deeper than 254 levels"
    assert reasons[0] == "the event is larger than 32768 bytes (32 KB)"


def test_a_batch_context_within_32_kb_merged_into_thousands_of_tiny_events_is_capped_per_request() -> None:
    # Given a 284 KB request: 5,000 tiny alias events and a 30 KB batch context (each merged event ~31 KB)
    events = [{"type": "alias", "userId": f"u-{i}", "previousId": "p"} for i in range(MAX_BATCH_EVENTS)]
    body = orjson.dumps({"batch": events, "context": {"pad": "x" * 30_000}})

    # When it is prepared
    prepared = prepare(body)

    # Then the stream gets at most 10x the request limit (not 150 MB); the rest is rejected with the reason
    on_stream = sum(len(record.data) for record in prepared.records)
    assert on_stream <= MAX_STORED_BYTES_PER_REQUEST
    assert prepared.accepted + len(prepared.rejections) == MAX_BATCH_EVENTS
    assert prepared.accepted > 0
    assert all("would store over 5120000 bytes" in r.reason for r in prepared.rejections)
    # And the quarantine holds each event once, one request's worth of context and a bounded row per event
    assert len(quarantine_body(prepared.quarantined)) <= 2 * len(body) + MAX_BATCH_EVENTS * 512


def test_an_ordinary_batch_stores_far_less_than_the_per_request_cap() -> None:
    # Given the largest request of realistic events (the benchmark's web and mobile events, ~850 bytes each)
    from bench.bench_ingest import make_bodies

    (body,) = make_bodies(count=1, size=580)
    assert len(body) <= 500 * 1024

    # When it is prepared / Then every event is stored, well within the cap
    prepared = prepare(body)
    assert prepared.rejections == []
    assert sum(len(record.data) for record in prepared.records) < MAX_STORED_BYTES_PER_REQUEST / 3


def test_an_event_over_32_kb_is_quarantined_cut_with_its_size_its_reason_and_a_truncated_marker() -> None:
    # Given a batch with an event of 40 KB (refused for its size) beside a valid one
    big = track(0, properties={"blob": "x" * 40_000})
    body = orjson.dumps({"batch": [big, track(1)]})

    # When it is prepared
    prepared = prepare(body)

    # Then the valid event is stored, and the big one's row keeps its first 32 KB, its size and its reason
    assert prepared.accepted == 1
    (row,) = prepared.quarantined
    assert row.truncated is True and row.raw_bytes == sent_event_bytes(big)
    assert len(row.raw.encode()) <= MAX_QUARANTINED_RAW_BYTES
    assert row.raw.startswith('{"type":"track","event":"Feature Used","userId":"u-0"')
    assert row.reason == "the event is larger than 32768 bytes (32 KB)"
    assert (row.user_id, row.message_id) == ("u-0", "m-0")
    # And a replay says it cannot be replayed, rather than failing on the cut JSON
    with pytest.raises(ValueError, match="kept only its first bytes"):
        revalidate_with_ingest(row)


def test_an_event_within_32_kb_is_quarantined_whole() -> None:
    # Given an invalid event of just under 32 KB as sent (a track without its event name)
    event = {"type": "track", "userId": "u", "properties": {"blob": "x" * (MAX_EVENT_BYTES - 60)}}
    assert sent_event_bytes(event) <= MAX_EVENT_BYTES

    # When it is prepared on the single-event route, which adds the route's type to the row
    (row,) = prepare(orjson.dumps({k: v for k, v in event.items() if k != "type"}), "track").quarantined

    # Then the row holds it whole: a fix can replay it
    assert row.truncated is False and json.loads(row.raw) == event


def _padded(events: list[dict[str, Any]], pad_key: str = "properties") -> list[dict[str, Any]]:
    """`events` padded evenly so that their batch is just within the request limit."""
    room = MAX_REQUEST_BYTES - len(orjson.dumps({"batch": events})) - 64
    each = room // len(events) - len(f',"{pad_key}":{{"p":""}}')
    return [{**e, pad_key: {"p": "x" * each}} for e in events] if each > 0 else events


WORST_QUARANTINES: dict[str, dict[str, Any]] = {
    # Every row's metadata is paid 5,000 times
    "5,000 tiny invalid events": {"batch": _padded([{"type": "track", "userId": f"u-{i}"} for i in range(5000)])},
    # Every row is cut
    "14 invalid events of 34 KB": {
        "batch": [{"type": "track", "userId": "u", "properties": {"p": "x" * 34_000}} for _ in range(14)]
    },
    # Ids too long for the id columns, three per event
    "events with 300-character ids": {
        "batch": [
            {"type": "track", "event": "e", "userId": "u" * 300, "anonymousId": "a" * 300, "messageId": "m" * 300}
            for _ in range(500)
        ]
    },
    # The batch values once, beside 5,000 rows
    "5,000 non-objects and a 400 KB batch context": {"batch": [1] * 5000, "context": {"k": "v" * 400_000}},
    # Reasons that quote the client's value
    "unknown types": {"batch": [{"type": "t" * 900, "userId": "u"} for _ in range(500)]},
}


@pytest.mark.parametrize("shape", list(WORST_QUARANTINES))
def test_the_quarantine_object_of_a_request_at_the_body_limit_full_of_invalid_events_is_bounded(shape: str) -> None:
    # Given a request within the limits whose every event is invalid
    body = orjson.dumps(WORST_QUARANTINES[shape])
    assert len(body) <= MAX_REQUEST_BYTES

    # When it is prepared
    prepared = prepare(body)

    # Then every event is quarantined, the object written for the request is within the bound, and no row holds
    # more than a capped event, its metadata and (once per request) the batch values
    assert prepared.accepted == 0 and len(prepared.quarantined) == len(WORST_QUARANTINES[shape]["batch"])
    assert len(quarantine_body(prepared.quarantined)) <= MAX_QUARANTINE_BYTES_PER_REQUEST
    for row in prepared.quarantined:
        row_bytes = len(quarantine_body([row])) - len((row.batch or "").encode())
        assert row_bytes <= MAX_QUARANTINED_RAW_BYTES + 2048, (row.index, row_bytes)


@pytest.mark.parametrize("batch_context", [None, {"blob": "c" * 31_000}], ids=["small events", "31 KB context"])
def test_preparing_a_request_allocates_about_what_it_stores_not_a_serializer_buffer_per_line(
    batch_context: dict[str, Any] | None,
) -> None:
    # Given 4,700 small valid events, alone (5,000 lines of ~150 bytes) or under a 31 KB batch context (~160 lines
    # of 31 KB stored before the per-request bound): orjson hands back each line in its grown write buffer, 4 KB
    # to 256 KB whatever the line's length
    events = [track(i % 97) | {"messageId": f"m{i}"} for i in range(4700)]
    document: dict[str, Any] = (
        {"batch": events} if batch_context is None else {"batch": events, "context": batch_context}
    )
    body = orjson.dumps(document)
    gc.collect()

    # When it is prepared, its allocations traced
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        prepared = prepare(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then the peak is a small multiple of what it reads and stores (kept lines hold their length, not a buffer):
    # 5,000 buffers of 4 KB would be 20 MB, 160 of 256 KB 40 MB
    stored = sum(len(orjson.dumps(event)) + 1 for record in prepared.records for event in unpack_record(record.data))
    assert prepared.accepted > 0
    assert peak - before <= 3 * (stored + len(body)) + 4 * 2**20, (peak - before, stored)


def test_the_batch_values_are_hashed_once_per_request_not_once_per_quarantined_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 5,000 invalid events (not objects) and a 400 KB batch context: each quarantined event's id covers the
    # batch values
    body = orjson.dumps({"batch": [1] * 5000, "context": {"k": "v" * 400_000}})
    hashed = [0]
    real_sha256 = hashlib.sha256

    def counting_sha256(data: bytes = b"") -> Any:
        hashed[0] += len(data)
        return real_sha256(data)

    monkeypatch.setattr(hashlib, "sha256", counting_sha256)

    # When it is prepared
    prepared = prepare(body)

    # Then every event is quarantined, and the bytes hashed are about the request's own (not 5,000 x 400 KB = 2 GB)
    assert len(prepared.quarantined) == 5000
    assert hashed[0] <= 2 * len(body)
