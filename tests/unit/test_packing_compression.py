"""Compressed stream records: gzip JSON Lines of one key and one event hour, the 16x decompression-ratio bound,
plain records still readable, and the bounds every consumer enforces when it inflates a record."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurepulse.domain.packing import (
    GZIP_MAGIC,
    MAX_DECOMPRESSION_RATIO,
    MAX_PACKED_RECORD_BYTES,
    MAX_RECORD_BYTES,
    MIN_RECORD_BYTES,
    PLAIN_RECORD_MAX_BYTES,
    StreamRecord,
    UnreadableRecordError,
    pack_events,
    record_text,
    unpack_record,
)
from featurepulse.domain.schema import EnrichedEvent
from featurepulse.lake.layout import partition_of_wire_timestamp
from tests.lake_samples import enriched

T0 = datetime(2026, 11, 25, 10, 50, tzinfo=UTC)


def _lines(events: list[dict[str, Any]]) -> list[tuple[str, str, bytes]]:
    return [(str(e["user_id"] or e["anonymous_id"]), str(e["event_id"]), orjson.dumps(e)) for e in events]


def _ratio(record: StreamRecord) -> float:
    return len(record_text(record.data)) / len(record.data)


def test_a_batch_of_one_user_is_one_gzip_record_that_unpacks_to_its_events() -> None:
    # Given 8 events of one user within one hour
    events = [enriched(user_id="u1", timestamp=T0 + timedelta(seconds=i)) for i in range(8)]
    # When packed
    records = pack_events(_lines(events))
    # Then they travel as one gzip record (magic 1f 8b), far smaller than their JSON Lines, within the bound
    assert len(records) == 1
    (record,) = records
    assert record.data.startswith(GZIP_MAGIC)
    assert len(record.data) < len(record_text(record.data)) / 3
    assert _ratio(record) <= MAX_DECOMPRESSION_RATIO
    # And unpacking gives the events back, in order
    assert list(unpack_record(record.data)) == events


def test_a_record_within_firehoses_5_kb_unit_travels_plain() -> None:
    # Given 3 events of one user (~1.7 KB of JSON Lines: Firehose bills the record as 5 KB either way)
    events = [enriched(user_id="u1", timestamp=T0) for _ in range(3)]
    # When packed
    (record,) = pack_events(_lines(events))
    # Then the record is plain JSON Lines (no gzip CPU for no saving), read by the same rule
    assert len(record.data) <= PLAIN_RECORD_MAX_BYTES
    assert not record.data.startswith(GZIP_MAGIC)
    assert list(unpack_record(record.data)) == events


def test_packing_is_deterministic() -> None:
    # Given the same events packed twice (gzip's header carries no time)
    events = [enriched(user_id="u1", timestamp=T0) for _ in range(3)]
    # Then the records are byte for byte equal
    assert pack_events(_lines(events)) == pack_events(_lines(events))


def test_a_record_never_mixes_event_hours_and_keeps_the_users_order() -> None:
    # Given one user's events crossing 10:59 -> 11:00, and a late 10:xx event after them
    times = [T0 + timedelta(minutes=m) for m in (0, 5, 9, 10, 12)] + [T0 + timedelta(minutes=1)]
    events = [enriched(user_id="u1", timestamp=t) for t in times]
    # When packed
    records = pack_events(_lines(events))
    # Then each record holds events of one hour (the lake partition the processing Lambda gives it)
    for record in records:
        hours = {partition_of_wire_timestamp(e["timestamp"]) for e in unpack_record(record.data)}
        assert len(hours) == 1
    # And reading the records in order gives the user's events in the order they were sent
    assert [e["event_id"] for r in records for e in unpack_record(r.data)] == [e["event_id"] for e in events]
    assert len(records) == 3  # 10:50-10:59, 11:00-11:02, then the late 10:51 in its own record


def test_a_record_of_1000_identical_events_is_split_until_each_part_holds_the_ratio_bound() -> None:
    # Given 1,000 identical events of one user (they compress far better than 16x together)
    event = enriched(user_id="u1", timestamp=T0)
    line = orjson.dumps(event)
    assert len(zlib.compress(line * 1000)) * MAX_DECOMPRESSION_RATIO < len(line) * 1000
    # When packed
    records = pack_events([("u1", f"e{i}", line) for i in range(1000)])
    # Then it is split into several records, each within 16x and the uncompressed cap
    assert len(records) > 1
    for record in records:
        assert _ratio(record) <= MAX_DECOMPRESSION_RATIO
        assert len(record_text(record.data)) <= MAX_PACKED_RECORD_BYTES
    # And every event comes back once, in order
    assert [i for r in records for i in r.event_ids] == [f"e{i}" for i in range(1000)]
    assert sum(len(list(unpack_record(r.data))) for r in records) == 1000


def test_a_single_event_that_compresses_over_the_bound_travels_plain() -> None:
    # Given one event of 30 KB of the same character (it alone would compress ~300x)
    event = enriched(user_id="u1", timestamp=T0, properties=orjson.dumps({"pad": "x" * 30_000}).decode())
    # When packed
    (record,) = pack_events(_lines([event]))
    # Then it stands alone, stored plain (ratio 1), and reads back like any record
    assert not record.data.startswith(GZIP_MAGIC)
    assert list(unpack_record(record.data)) == [event]


def test_records_written_before_compression_and_after_read_back_alike() -> None:
    # Given a plain JSON Lines record (as written before compression) and a gzip one
    old_events = [enriched(user_id="u1", timestamp=T0) for _ in range(2)]
    plain = b"".join(orjson.dumps(e) + b"\n" for e in old_events)
    new_events = [enriched(user_id="u2", timestamp=T0) for _ in range(8)]
    (packed,) = pack_events(_lines(new_events))
    assert packed.data.startswith(GZIP_MAGIC)
    # When every record is unpacked by the same rule
    # Then both give their events
    assert list(unpack_record(plain)) == old_events
    assert list(unpack_record(packed.data)) == new_events


def test_the_smallest_record_packing_can_write_is_at_least_min_record_bytes() -> None:
    # Given the smallest event ingest can produce (all optional fields absent, one-character ids)
    smallest = EnrichedEvent(
        event_id="x",
        source_id="s",
        type="alias",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    ).model_dump_json(exclude_none=True)
    # When packed alone
    (record,) = pack_events([("x", "x", smallest.encode())])
    # Then it is at least MIN_RECORD_BYTES: the record count of a full processor buffer is bounded
    # (the 6 MB response arithmetic in featurepulse/domain/packing.py)
    assert len(record.data) >= MIN_RECORD_BYTES


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2", "u3"]),
            st.integers(min_value=0, max_value=180),
            st.text(max_size=400) | st.integers(min_value=0, max_value=5000).map(lambda n: "a" * n),
        ),
        min_size=1,
        max_size=80,
    )
)
def test_every_record_holds_the_bounds_for_any_events(items: list[tuple[str, int, str]]) -> None:
    # Given events of a few users over three hours, with payloads from random to very repetitive
    events = [
        enriched(user_id=u, timestamp=T0 + timedelta(minutes=m), properties=orjson.dumps({"p": p}).decode())
        for u, m, p in items
    ]
    # When packed
    records = pack_events(_lines(events))
    # Then every record holds the ratio bound, the uncompressed cap, Kinesis's record limit, one key and one hour
    for record in records:
        text = record_text(record.data)
        assert len(text) <= MAX_DECOMPRESSION_RATIO * len(record.data)
        assert len(text) <= MAX_PACKED_RECORD_BYTES
        assert record.size <= MAX_RECORD_BYTES
        unpacked = list(unpack_record(record.data))
        assert {e["user_id"] for e in unpacked} == {record.partition_key}
        assert len({e["timestamp"][:13] for e in unpacked}) == 1
    # And each user's events come back once, in order
    for user in {u for u, _, _ in items}:
        sent = [e["event_id"] for e in events if e["user_id"] == user]
        assert [e["event_id"] for r in records if r.partition_key == user for e in unpack_record(r.data)] == sent


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (GZIP_MAGIC + b"\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 20, "corrupt"),
        (gzip.compress(b'{"a":1}\n')[:-6], "truncated"),
        (gzip.compress(b'{"a":1}\n') + b"tail", "bytes after"),
        (gzip.compress(b"{}\n" * 200_000), "inflates past"),  # a bomb: ~600 KB from ~1 KB
    ],
)
def test_an_unreadable_or_oversized_gzip_record_is_refused_without_inflating_it_whole(data: bytes, why: str) -> None:
    # Given a gzip record the packer never writes / When read / Then it is refused with the reason
    with pytest.raises(UnreadableRecordError, match=why):
        record_text(data)
