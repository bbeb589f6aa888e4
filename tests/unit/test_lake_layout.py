"""Partition-path computation of the lake: the same answer from Firehose's processing Lambda (the local writer runs
the same transform) and the event model, for every time and for the edge cases that go wrong in practice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurepulse.domain.packing import pack_events
from featurepulse.domain.schema import EnrichedEvent, format_timestamp, parse_timestamp, partition_values
from featurepulse.lake.layout import (
    FIREHOSE_ERRORS_PREFIX,
    FIREHOSE_EVENTS_PREFIX,
    PARTITION_KEY_NAMES,
    Partition,
    data_file_name,
    partition_of,
    partition_of_key,
    partition_of_wire_timestamp,
    partitions_between,
)
from featurepulse.lake.transform import transform_record
from tests.lake_samples import enriched

utc_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59, 999000)).map(
    lambda t: t.replace(tzinfo=UTC, microsecond=t.microsecond // 1000 * 1000)
)


@given(utc_times)
def test_wire_slicing_and_model_agree_on_every_partition(moment: datetime) -> None:
    # Given any event time, as ingest writes it on the stream
    wire = format_timestamp(moment)
    # When the partition is computed the Firehose way (the processing Lambda's keys) and the model way
    by_wire = partition_of_wire_timestamp(wire)
    by_model = partition_of(parse_timestamp(wire))
    # Then both name the same dt/hr, which is the one `partition_values` defines
    assert by_wire == by_model == Partition(**partition_values(moment))


@given(utc_times)
def test_the_processing_lambda_gives_the_partition_the_model_computes(moment: datetime) -> None:
    # Given any event time packed into a stream record
    event = enriched(timestamp=moment)
    (record,) = pack_events([(str(event["user_id"]), str(event["event_id"]), orjson.dumps(event))])
    # When the processing Lambda's logic (run by Firehose and by the local writer) reads the record
    outcome = transform_record(record.data)
    # Then its partition keys are the model's partition of the event time
    assert outcome.partition == partition_of(moment) == partition_of_wire_timestamp(format_timestamp(moment))
    assert PARTITION_KEY_NAMES == ("dt", "hr")


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2026-11-25T23:59:59.999Z", Partition("2026-11-25", "23")),  # last millisecond of the day
        ("2026-11-26T00:00:00.000Z", Partition("2026-11-26", "00")),  # midnight opens the next day
        ("2026-12-31T23:59:59.999Z", Partition("2026-12-31", "23")),  # year boundary
        ("2027-01-01T00:00:00.000Z", Partition("2027-01-01", "00")),
        ("2028-02-29T12:00:00.000Z", Partition("2028-02-29", "12")),  # leap day
    ],
)
def test_midnight_and_calendar_boundaries(wire: str, expected: Partition) -> None:
    # Given an event time on a boundary / When partitioned / Then it falls on the expected side
    assert partition_of_wire_timestamp(wire) == expected == partition_of(parse_timestamp(wire))


def test_an_offset_time_is_partitioned_by_its_utc_time() -> None:
    # Given a client time 00:30 in UTC+02:00 (22:30 UTC the day before)
    local = datetime(2026, 11, 26, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    # When ingest writes it on the wire and the lake partitions it
    wire = format_timestamp(local)
    # Then the partition is the UTC day and hour, not the client's
    assert wire == "2026-11-25T22:30:00.000Z"
    assert partition_of_wire_timestamp(wire) == Partition("2026-11-25", "22")


def test_a_late_event_goes_to_the_partition_of_its_event_time_not_its_arrival() -> None:
    # Given an event that happened yesterday at 23:10 and arrived today at 09:00
    event = EnrichedEvent.model_validate(
        enriched(
            timestamp=datetime(2026, 11, 24, 23, 10, tzinfo=UTC), received_at=datetime(2026, 11, 25, 9, tzinfo=UTC)
        )
    )
    # When partitioned
    # Then it lands in yesterday's 23h partition (a new file there: partitions are never closed)
    assert partition_of(event.timestamp) == Partition("2026-11-24", "23")
    assert partition_of_wire_timestamp(event.model_dump(mode="json")["timestamp"]) == Partition("2026-11-24", "23")


def test_clock_skew_is_already_corrected_so_the_partition_follows_the_corrected_time() -> None:
    # Given an event whose client clock ran 3 hours fast; ingest corrected `timestamp`, `sent_at` keeps the raw
    event = EnrichedEvent.model_validate(
        enriched(
            timestamp=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
            sent_at=datetime(2026, 11, 25, 13, 0, 1, tzinfo=UTC),
            received_at=datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC),
        )
    )
    # When partitioned / Then the corrected time decides, never sent_at or received_at
    assert partition_of(event.timestamp) == Partition("2026-11-25", "10")


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert partition_of(datetime(2026, 11, 25, 23, 59)) == Partition("2026-11-25", "23")


def test_partition_is_read_back_from_object_keys() -> None:
    # Given keys written by Firehose, the local writer and the quarantine
    assert partition_of_key("events/dt=2026-11-25/hr=07/x.parquet") == Partition("2026-11-25", "07")
    assert partition_of_key("quarantine/dt=2026-11-25/hr=23/y.jsonl") == Partition("2026-11-25", "23")
    # Then a key without a partition says so
    assert partition_of_key("audit/erasure/z.json") is None


def test_partitions_between_covers_every_hour_across_midnight() -> None:
    start = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    parts = partitions_between(start, start + timedelta(hours=2))
    assert parts == [Partition("2026-11-25", "22"), Partition("2026-11-25", "23"), Partition("2026-11-26", "00")]


def test_prefixes_are_the_hive_layout_the_glue_table_projects() -> None:
    assert Partition("2026-11-25", "07").prefix() == "events/dt=2026-11-25/hr=07/"
    assert FIREHOSE_EVENTS_PREFIX == "events/dt=!{partitionKeyFromLambda:dt}/hr=!{partitionKeyFromLambda:hr}/"
    assert "!{firehose:error-output-type}" in FIREHOSE_ERRORS_PREFIX  # required with dynamic partitioning
    name = data_file_name("stream", datetime(2026, 11, 25, 7, 1, 2, tzinfo=UTC), "u")
    assert name == "stream-1-2026-11-25-07-01-02-u.parquet"
