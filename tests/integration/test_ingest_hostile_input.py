"""Hostile requests against the ingest handler (moto): none multiplies itself, none loses the events beside it.

Browser SDKs put the write key in public pages, so anyone can send these (issue 10 of the hardening review):
a huge batch `context` merged into every event, times that overflow when formatted, a `type` nested 1,000
levels deep, a lone surrogate, and a client-written CloudFront-Viewer-Country header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from featurepulse.domain.packing import record_text
from featurepulse.ingest.limits import (
    MAX_EVENT_BYTES,
    MAX_QUARANTINE_BYTES_PER_REQUEST,
    MAX_QUARANTINED_RAW_BYTES,
    MAX_REQUEST_BYTES,
)
from tests.integration.ingest_support import BUCKET, Stack, invoke, load_event, moto_stack, proxy_event


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with moto_stack(monkeypatch) as created:
        yield created


def stream_bytes(stack: Stack) -> tuple[int, int]:
    """Total bytes on the stream and the largest stored event (its JSON line)."""
    total = 0
    largest = 0
    for shard in stack.kinesis.list_shards(StreamName="featurepulse-test-events")["Shards"]:
        iterator = stack.kinesis.get_shard_iterator(
            StreamName="featurepulse-test-events", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for record in stack.kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]:
            total += len(record["Data"])
            largest = max([largest, *(len(line) for line in record_text(record["Data"]).splitlines())])
    return total, largest


def quarantine_bytes(stack: Stack) -> int:
    listing = stack.s3.list_objects_v2(Bucket=BUCKET)
    return sum(item["Size"] for item in listing.get("Contents", []))


def tiny_event(i: int, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Feature Used", "userId": f"u-{i}", "messageId": f"m-{i}", **extra}


BIG_CONTEXT = {f"key{i}": "v" * 290 for i in range(1000)}  # 300 KB of batch context


@pytest.mark.parametrize(
    ("name", "events"),
    [
        ("valid tiny events", [tiny_event(i) for i in range(400)]),
        ("invalid tiny events", [{"type": "track", "userId": f"u-{i}"} for i in range(400)]),
        # each event overrides one key: the precheck cannot skip them, the stored-size check must catch them
        ("events with their own context", [tiny_event(i, context={"key0": i}) for i in range(400)]),
    ],
)
def test_a_huge_batch_context_does_not_multiply_the_request(stack: Stack, name: str, events: list[Any]) -> None:
    # Given a ~349 KB request: 400 tiny events and a 300 KB batch context merged into each of them
    body = {"batch": events, "context": BIG_CONTEXT}
    request_bytes = len(orjson.dumps(body))

    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", body=body, write_key=stack.write_key))

    # Then every event is rejected (as stored it would be over 32 KB), listed with a reason, never a 5xx
    assert status == 200, answer
    assert answer["accepted"] == 0
    assert len(answer["rejected"]) == 400
    assert all("32 KB" in r["reason"] or "required" in r["reason"] for r in answer["rejected"])
    # And the stream and the quarantine together hold O(request size), not 400 copies of the context
    on_stream, largest = stream_bytes(stack)
    assert on_stream == 0
    assert largest <= MAX_EVENT_BYTES
    assert quarantine_bytes(stack) <= 3 * request_bytes
    # And the batch context is stored whole once, with the first row; the other rows name that row
    rows = stack.quarantine_rows()
    assert len(rows) == 400
    carriers = [r for r in rows if r["batch"] is not None]
    assert len(carriers) == 1 and json.loads(carriers[0]["batch"])["context"] == BIG_CONTEXT
    assert all(r["batch_index"] == carriers[0]["index"] for r in rows if r is not carriers[0])


def test_a_batch_context_within_limits_is_merged_and_the_stored_events_stay_within_32_kb(stack: Stack) -> None:
    # Given 3 events with a 20 KB batch context; one of them adds 15 KB of its own (35 KB once merged)
    context = {"pad": "x" * 20_000, "locale": "en-GB"}
    events = [tiny_event(0), tiny_event(1, context={"own": "y" * 15_000}), tiny_event(2)]

    # When it is posted
    status, _, answer = invoke(
        proxy_event("/v1/batch", body={"batch": events, "context": context}, write_key=stack.write_key)
    )

    # Then the two within the limit are stored with the context merged, and the merged one over 32 KB is rejected
    assert status == 200
    assert answer["accepted"] == 2
    assert [r["index"] for r in answer["rejected"]] == [1]
    assert "as stored" in answer["rejected"][0]["reason"]
    stored = stack.stream_events()
    assert sorted(e["event_id"] for e in stored) == ["m-0", "m-2"]
    assert all(e["country"] == "GB" and "x" * 20_000 in e["context"] for e in stored)
    assert stream_bytes(stack)[1] <= MAX_EVENT_BYTES + 1


@pytest.mark.parametrize("field", ["sentAt", "timestamp", "originalTimestamp"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_that_overflows_when_formatted_costs_only_its_own_event(stack: Stack, field: str, value: str) -> None:
    # Given a batch with a valid event and one whose time is outside UTC years 0001-9999
    events = [tiny_event(0), tiny_event(1, **{field: value})]

    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", body={"batch": events}, write_key=stack.write_key))

    # Then the valid event is stored and only the bad one is rejected, with the reason
    assert status == 200
    assert answer["accepted"] == 1
    assert answer["rejected"] == [{"index": 1, "reason": f"{field} {value!r} is out of range: UTC years 0001 to 9999"}]
    assert [e["event_id"] for e in stack.stream_events()] == ["m-0"]
    assert [r["index"] for r in stack.quarantine_rows()] == [1]


@pytest.mark.parametrize("sent_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "yesterday"])
def test_an_unusable_batch_sent_at_is_ignored_and_the_valid_events_are_stored(stack: Stack, sent_at: str) -> None:
    # Given a batch whose own sentAt (which corrects every event's clock) is not a usable time, with one event
    # stamped by the client and one without a time
    stamped = tiny_event(0, timestamp="2026-11-25T10:00:00.000Z")
    body = {"batch": [stamped, tiny_event(1)], "sentAt": sent_at}

    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", body=body, write_key=stack.write_key))

    # Then both events are stored (not a 400 for the whole body), the answer warns that the sentAt was ignored
    assert status == 200
    assert (answer["accepted"], answer["rejected"]) == (2, [])
    assert len(answer["warnings"]) == 1 and "ignored for clock-skew correction" in answer["warnings"][0]
    # And the stamped event keeps its own time, uncorrected; the other one has the receive time
    stored = {e["event_id"]: e for e in stack.stream_events()}
    assert stored["m-0"]["timestamp"] == "2026-11-25T10:00:00.000Z" and stored["m-0"]["sent_at"] is None
    assert stored["m-1"]["timestamp"] == stored["m-1"]["received_at"]


def test_a_sent_at_before_year_1000_is_stored_with_a_four_digit_year(stack: Stack) -> None:
    # Given an event sent by a device whose clock says year 999
    event = tiny_event(0, sentAt="0999-03-04T05:06:07.000Z", timestamp="0999-03-04T05:06:00.000Z")

    # When it is posted
    status, _, _ = invoke(proxy_event("/v1/batch", body={"batch": [event]}, write_key=stack.write_key))

    # Then sent_at keeps the client's time, zero-padded, and the corrected timestamp is 7 s before receipt
    assert status == 200
    (stored,) = stack.stream_events()
    assert stored["sent_at"] == "0999-03-04T05:06:07.000Z"
    assert stored["timestamp"] == "2026-11-25T11:59:54.500Z"


def test_a_type_nested_1000_levels_deep_costs_only_its_own_event(stack: Stack) -> None:
    # Given a batch with a valid event and one whose type is an array nested 1,000 levels deep
    deep = "[" * 1000 + "]" * 1000
    valid = json.dumps(tiny_event(0))
    raw_body = '{"batch": [' + valid + ', {"type": ' + deep + ', "event": "e", "userId": "u"}]}'

    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", raw_body=raw_body, write_key=stack.write_key))

    # Then the valid event is stored; the deep one is rejected with a reason and quarantined whole
    assert status == 200
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1]
    assert "unknown type" in answer["rejected"][0]["reason"]
    assert [e["event_id"] for e in stack.stream_events()] == ["m-0"]
    (row,) = stack.quarantine_rows()
    assert row["raw"].count("[") == 1000


@pytest.mark.parametrize(
    "raw_body",
    [
        # a lone surrogate that reached the proxy event's body as a character (not valid UTF-8 text)
        '{"batch": [{"type": "track", "event": "e\ud800", "userId": "u"}]}',
        # a lone surrogate escape in the JSON text
        '{"batch": [{"type": "track", "event": "e\\ud800", "userId": "u"}]}',
    ],
)
def test_a_body_with_a_lone_surrogate_is_a_400_with_a_reason(stack: Stack, raw_body: str) -> None:
    # Given a body with a lone surrogate / When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", raw_body=raw_body, write_key=stack.write_key))

    # Then it is refused as malformed with a reason, not a 5xx
    assert status == 400
    assert answer["code"] in {"malformed_body", "malformed_json"}
    assert "surrogate" in answer["message"]


def test_the_32_kb_limit_counts_the_same_bytes_on_a_single_event_route_and_in_a_batch(stack: Stack) -> None:
    # Given an event of 12,000 "é" written as \u00e9 escapes: 72 KB in the body, 24 KB as JSON in UTF-8
    raw = {**tiny_event(0), "properties": {"note": "\u00e9" * 12_000}}
    escaped = json.dumps(raw)  # ensure_ascii: the escapes travel in the body
    assert len(escaped.encode()) > 2 * MAX_EVENT_BYTES

    # When it is posted on /v1/track and, under another id, in a batch
    single = invoke(proxy_event("/v1/track", raw_body=escaped, write_key=stack.write_key))
    in_batch = json.dumps({"batch": [{**raw, "messageId": "m-batch"}]})
    batch = invoke(proxy_event("/v1/batch", raw_body=in_batch, write_key=stack.write_key))

    # Then both routes accept it: the escapes count as the bytes they stand for, on both
    assert (single[0], single[2]["accepted"]) == (200, 1)
    assert (batch[0], batch[2]["accepted"]) == (200, 1)

    # And an event over the limit as stored is refused on both routes the same way
    big = {**tiny_event(1), "properties": {"note": "\u00e9" * 17_000}}  # 34 KB in UTF-8
    single_big = invoke(proxy_event("/v1/track", raw_body=json.dumps(big), write_key=stack.write_key))
    batch_big = invoke(proxy_event("/v1/batch", body={"batch": [big]}, write_key=stack.write_key))
    assert (single_big[0], single_big[2]["code"]) == (413, "event_too_large")
    assert batch_big[0] == 200
    assert [r["index"] for r in batch_big[2]["rejected"]] == [0]
    assert "32 KB" in batch_big[2]["rejected"][0]["reason"]


def test_a_client_written_viewer_country_header_is_not_trusted(stack: Stack) -> None:
    # Given a request on the REGIONAL endpoint (no CloudFront in front) whose client sets CloudFront-Viewer-Country
    event = {**load_event("segment_page.json"), "context": {"locale": "en-GB"}}
    request = proxy_event(
        "/v1/page", body=event, write_key=stack.write_key, headers={"CloudFront-Viewer-Country": "KP"}
    )

    # When it is posted
    status, _, _ = invoke(request)

    # Then the country comes from the locale, never from the header
    assert status == 200
    assert [e["country"] for e in stack.stream_events()] == ["GB"]


def test_the_quarantine_object_of_a_request_at_the_body_limit_full_of_invalid_events_is_bounded(stack: Stack) -> None:
    # Given a request at the 500 KB body limit: 5,000 invalid events (no event name), padded, and one of 40 KB
    events: list[Any] = [{"type": "track", "userId": f"u-{i}", "properties": {"p": "x" * 37}} for i in range(4999)]
    events.append({"type": "track", "userId": "u-big", "properties": {"p": "x" * 40_000}})
    body = orjson.dumps({"batch": events}).decode()
    assert MAX_REQUEST_BYTES - 5_000 <= len(body) <= MAX_REQUEST_BYTES

    # When it is posted
    status, _, answer = invoke(proxy_event("/v1/batch", raw_body=body, write_key=stack.write_key))

    # Then every event is rejected and quarantined in one object within the bound, the big one cut to 32 KB
    assert status == 200 and answer["accepted"] == 0 and len(answer["rejected"]) == 5000
    assert quarantine_bytes(stack) <= MAX_QUARANTINE_BYTES_PER_REQUEST
    rows = stack.quarantine_rows()
    assert len(rows) == 5000 and len(stack.quarantine_keys()) == 1
    (big,) = [r for r in rows if r["truncated"]]
    assert big["user_id"] == "u-big" and big["raw_bytes"] > MAX_EVENT_BYTES
    assert len(big["raw"].encode()) <= MAX_QUARANTINED_RAW_BYTES
