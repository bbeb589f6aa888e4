"""Stream record packing: several events per Kinesis record, per-user order, PutRecords limits (compressed
records: tests/unit/test_packing_compression.py)."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from featurepulse.domain.packing import (
    MAX_BYTES_PER_PUT,
    MAX_RECORDS_PER_PUT,
    StreamRecord,
    chunk_for_put,
    pack_events,
    record_text,
    unpack_record,
)

users = st.sampled_from(["u1", "u2", "u3", "anon-9"])
payloads = st.text(min_size=0, max_size=300)


def _event(i: int, user: str, payload: str) -> tuple[str, str, bytes]:
    return user, f"e{i}", orjson.dumps({"event_id": f"e{i}", "user_id": user, "p": payload})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(users, payloads), max_size=60), st.integers(min_value=64, max_value=4096))
def test_packing_then_unpacking_returns_every_event_once_in_per_user_order(items, limit):
    # Given events of several users
    events = [_event(i, u, p) for i, (u, p) in enumerate(items)]
    # When they are packed with any record size limit and every record is unpacked
    records = pack_events(events, max_record_bytes=limit)
    unpacked = [e for r in records for e in unpack_record(r.data)]
    # Then every event comes back exactly once, and each user's events keep their order
    assert sorted(e["event_id"] for e in unpacked) == sorted(e[1] for e in events)
    for user in {u for u, _, _ in events}:
        sent = [eid for u, eid, _ in events if u == user]
        received = [e["event_id"] for r in records if r.partition_key == user for e in unpack_record(r.data)]
        assert received == sent
    # And a record never mixes users, and its JSON Lines only exceed the limit when it holds a single large event
    for r in records:
        assert {e["user_id"] for e in unpack_record(r.data)} == {r.partition_key}
        assert len(record_text(r.data)) <= limit or len(r.event_ids) == 1
        assert list(r.event_ids) == [e["event_id"] for e in unpack_record(r.data)]


def test_chunking_respects_the_500_records_per_request_limit():
    # Given 1,201 small records
    records = [StreamRecord(partition_key=f"u{i}", data=b"{}\n", event_ids=(f"e{i}",)) for i in range(1201)]
    # When they are chunked for PutRecords
    chunks = chunk_for_put(records)
    # Then no request holds more than 500 records and none is lost
    assert [len(c) for c in chunks] == [MAX_RECORDS_PER_PUT, MAX_RECORDS_PER_PUT, 201]
    assert [r for c in chunks for r in c] == records


def test_chunking_respects_the_5_mb_per_request_limit_counting_partition_keys():
    # Given records of about 1 MB each
    big = b"x" * (1024 * 1024 - 10)
    records = [StreamRecord(partition_key="user-1", data=big, event_ids=(f"e{i}",)) for i in range(12)]
    # When they are chunked
    chunks = chunk_for_put(records)
    # Then every request stays within 5 MB (data plus partition keys)
    assert all(sum(r.size for r in c) <= MAX_BYTES_PER_PUT for c in chunks)
    assert sum(len(c) for c in chunks) == 12


def test_unpacking_skips_blank_lines():
    # Given a record with a trailing blank line
    data = b'{"event_id":"a"}\n\n{"event_id":"b"}\n'
    # When it is unpacked
    ids = [e["event_id"] for e in unpack_record(data)]
    # Then both events come back
    assert ids == ["a", "b"]
