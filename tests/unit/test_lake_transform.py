"""The Firehose processing Lambda's logic: packed records in, the events as JSON lines with their partition keys
out; unreadable records ProcessingFailed (never dropped); the response within Lambda's 6 MB for a full buffer."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from featurepulse.domain.packing import (
    FIREHOSE_PROCESSOR_BUFFER_MB,
    GZIP_MAGIC,
    MAX_DECOMPRESSION_RATIO,
    MAX_PACKED_RECORD_BYTES,
    StreamRecord,
    pack_events,
    record_text,
)
from featurepulse.domain.schema import EnrichedEvent
from featurepulse.lake.layout import partition_of_wire_timestamp
from featurepulse.lake.transform import OK, PROCESSING_FAILED, FirehoseTransformationEvent, transform
from tests.lake_samples import enriched, user_events

EVENT_FILE = Path(__file__).parents[1] / "events" / "firehose_kinesis_transformation.json"
T0 = datetime(2026, 11, 25, 22, 40, tzinfo=UTC)
LAMBDA_RESPONSE_LIMIT = 6_000_000  # 6 MB, counted in the smaller decimal unit
BUFFER_BYTES = int(FIREHOSE_PROCESSOR_BUFFER_MB * 1024 * 1024)


def firehose_event(datas: list[bytes], record_id_chars: int = 62) -> dict[str, Any]:
    """The sample transformation event with one record per data (record ids unique, `record_id_chars` long)."""
    event: dict[str, Any] = json.loads(EVENT_FILE.read_text())
    template = event["records"][0]
    event["records"] = [
        {**template, "recordId": f"{i:0{record_id_chars}d}", "data": base64.b64encode(data).decode()}
        for i, data in enumerate(datas)
    ]
    return event


def packed(events: list[dict[str, Any]]) -> list[StreamRecord]:
    return pack_events((str(e["user_id"] or e["anonymous_id"]), str(e["event_id"]), orjson.dumps(e)) for e in events)


def run(datas: list[bytes], **kwargs: Any) -> dict[str, Any]:
    result = transform(FirehoseTransformationEvent.model_validate(firehose_event(datas, **kwargs)))
    response: dict[str, Any] = result.response.model_dump(exclude_none=True)
    return response


def lake_rows(response: dict[str, Any]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """What Firehose delivers: each Ok record's JSON documents with the record's partition keys."""
    return [
        (r["metadata"]["partitionKeys"], orjson.loads(line))
        for r in response["records"]
        if r["result"] == OK
        for line in base64.b64decode(r["data"]).splitlines()
    ]


def test_round_trip_pack_transform_gives_the_lake_rows_of_every_event_in_its_partition() -> None:
    # Given events of three users over 22:40 -> 00:xx (crossing midnight), packed as ingest packs them
    events = [
        *user_events("u1", "a1", T0, 30, timedelta(minutes=3)),
        *user_events("u2", "a2", T0, 12, timedelta(minutes=7)),
        enriched(user_id=None, anonymous_id="a3", timestamp=T0),
    ]
    records = packed(events)
    # When Firehose hands the records to the processing Lambda
    response = run([r.data for r in records])
    # Then every record is Ok, and the lake rows are exactly the events, each under its own dt/hr
    assert [r["result"] for r in response["records"]] == [OK] * len(records)
    rows = lake_rows(response)
    assert sorted(row["event_id"] for _, row in rows) == sorted(e["event_id"] for e in events)
    assert {row["event_id"]: row for _, row in rows} == {e["event_id"]: e for e in events}
    for keys, row in rows:
        partition = partition_of_wire_timestamp(row["timestamp"])
        assert keys == {"dt": partition.dt, "hr": partition.hr}
    assert {keys["dt"] for keys, _ in rows} == {"2026-11-25", "2026-11-26"}


def test_records_written_before_compression_and_gzip_records_are_both_delivered() -> None:
    # Given a plain JSON Lines record (written before the change) and a gzip record, in one buffer
    old = [enriched(user_id="u1", timestamp=T0 + timedelta(seconds=i)) for i in range(3)]
    new = [enriched(user_id="u2", timestamp=T0 + timedelta(seconds=i)) for i in range(8)]
    plain = b"".join(orjson.dumps(e) + b"\n" for e in old)
    (gzip_record,) = packed(new)
    assert gzip_record.data.startswith(GZIP_MAGIC)
    # When transformed
    response = run([plain, gzip_record.data])
    # Then both are Ok and their events all reach the lake
    assert [r["result"] for r in response["records"]] == [OK, OK]
    assert [row for _, row in lake_rows(response)] == old + new


@pytest.mark.parametrize(
    "data",
    [
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 32,  # corrupt gzip
        b"not json at all\n",
        b'{"event_id":"e1"}\n',  # no timestamp
        b'["an", "array"]\n',
        b"\n\n",  # no event
        b'{"event_id":"e1","timestamp":"yesterday"}\n',
    ],
)
def test_a_record_that_cannot_be_read_is_processing_failed_with_its_data_as_received(data: bytes) -> None:
    # Given a good record and an unreadable one in the same buffer
    (good,) = packed([enriched(user_id="u1", timestamp=T0)])
    # When transformed
    response = run([good.data, data])
    # Then the good one is Ok and the other ProcessingFailed, carrying its original bytes (Firehose writes them
    # under errors/processing-failed/): no record is dropped, ids and order are kept
    ok, failed = response["records"]
    assert ok["result"] == OK
    assert failed["result"] == PROCESSING_FAILED
    assert base64.b64decode(failed["data"]) == data
    assert "metadata" not in failed
    assert [r["recordId"] for r in response["records"]] == [f"{i:062d}" for i in range(2)]


def test_a_record_that_mixes_event_hours_is_processing_failed_never_split_or_dropped() -> None:
    # Given a plain record holding events of 22h and 23h (the packer never writes one)
    events = [enriched(user_id="u1", timestamp=T0), enriched(user_id="u1", timestamp=T0 + timedelta(hours=1))]
    data = b"".join(orjson.dumps(e) + b"\n" for e in events)
    # When transformed
    result = transform(FirehoseTransformationEvent.model_validate(firehose_event([data])))
    # Then it is ProcessingFailed with the reason, and its data kept whole
    (record,) = result.response.records
    assert record.result == PROCESSING_FAILED
    assert base64.b64decode(record.data) == data
    assert result.failures == ((record.recordId, "the record mixes event hours"),)


def test_data_that_is_not_base64_is_processing_failed() -> None:
    event = firehose_event([b"x"])
    event["records"][0]["data"] = "%%%not base64%%%"
    result = transform(FirehoseTransformationEvent.model_validate(event))
    assert [r.result for r in result.response.records] == [PROCESSING_FAILED]
    assert result.response.records[0].data == "%%%not base64%%%"


def _record_at_ratio(user: str, ratio_floor: float) -> StreamRecord:
    """A packed record of one user whose decompression ratio is as close to the 16x bound as packing allows."""
    event = enriched(user_id=user, timestamp=T0)
    records = pack_events((user, f"{user}-{i}", orjson.dumps({**event, "event_id": f"{user}-{i}"})) for i in range(400))
    best = max(records, key=lambda r: len(record_text(r.data)) / len(r.data))
    assert ratio_floor <= len(record_text(best.data)) / len(best.data) <= MAX_DECOMPRESSION_RATIO
    return best


def _largest_record(user: str) -> StreamRecord:
    """A record at the uncompressed cap (512 KiB of JSON Lines that compress under 16x)."""
    noise = [orjson.dumps({"r": os.urandom(64).hex()}).decode() for _ in range(2000)]  # compresses ~3x, not 16x
    rows = [{**enriched(user_id=user, timestamp=T0), "properties": properties} for properties in noise]
    records = pack_events((user, str(r["event_id"]), orjson.dumps(r)) for r in rows)
    largest = max(records, key=lambda r: len(record_text(r.data)))
    assert len(record_text(largest.data)) > MAX_PACKED_RECORD_BYTES - 4096
    return largest


@pytest.mark.parametrize("shape", ["records at the ratio bound", "smallest records"])
def test_a_full_processor_buffer_answers_within_lambdas_6_mb(shape: str) -> None:
    # Given a buffer as large as Firehose may hand over: 0.2 MB of records plus one more at the uncompressed cap,
    # with record ids of 190 characters, either of records close to the 16x bound or of the smallest records
    if shape == "records at the ratio bound":
        unit = _record_at_ratio("u1", ratio_floor=MAX_DECOMPRESSION_RATIO / 2)
    else:
        smallest = EnrichedEvent(event_id="x", source_id="s", type="alias", timestamp=T0, received_at=T0)
        (unit,) = pack_events([("x", "x", smallest.model_dump_json(exclude_none=True).encode())])
    datas = [unit.data] * (BUFFER_BYTES // len(unit.data))
    datas.append(_largest_record("u2").data)
    # When transformed
    response = run(datas, record_id_chars=190)
    # Then every record is Ok and the response, serialized, stays under 6 MB
    assert {r["result"] for r in response["records"]} == {OK}
    assert len(json.dumps(response, separators=(",", ":"))) < LAMBDA_RESPONSE_LIMIT
