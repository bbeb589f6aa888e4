"""The Firehose processing Lambda's logic (pure): packed stream records in, lake-ready records out.

Firehose reads the stream and hands the Lambda (lambdas/lake_transform/handler.py) a transformation event of up
to `FIREHOSE_PROCESSOR_BUFFER_MB` of records. For each record:
- decompress it by the one rule of every consumer (featurepulse/domain/record_format.py: gzip or plain JSON Lines,
  within the packing bounds);
- output its events as concatenated JSON lines (the record format conversion reads several JSON documents from one
  record), result `Ok`, and `metadata.partitionKeys` = {dt, hr} of the events' wire timestamp, exactly
  featurepulse/lake/layout.py's `partition_of_wire_timestamp`, which the S3 prefix
  `dt=!{partitionKeyFromLambda:dt}/hr=!{partitionKeyFromLambda:hr}/` (layout.FIREHOSE_EVENTS_PREFIX) uses;
- a record that cannot be read, holds no event, holds a line that is not an event with a wire timestamp, or mixes
  event hours (the packer never writes one) is `ProcessingFailed` with its data as received: Firehose writes it
  under errors/processing-failed/ (layout.FIREHOSE_ERRORS_PREFIX). Nothing is ever dropped.

The response stays under Lambda's 6 MB because every record holds the decompression-ratio bound (the arithmetic
is in featurepulse/domain/packing.py). The local Firehose (featurepulse/lake/writer.py) runs the same
`transform_record` on every record it reads.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from featurepulse.domain.record_format import UnreadableRecordError, record_text
from featurepulse.lake.layout import Partition, partition_of_wire_timestamp

OK = "Ok"
PROCESSING_FAILED = "ProcessingFailed"
# Custom metrics of the Lambda (Powertools, dimension service); cdk/lake.py alarms on the failed records.
TRANSFORMED_EVENTS_METRIC = "TransformedEvents"
PROCESSING_FAILED_METRIC = "ProcessingFailedRecords"
# The wire timestamp's hour prefix (featurepulse.domain.schema.format_timestamp: YYYY-MM-DDTHH:MM:SS.mmmZ).
_WIRE_HOUR = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}")


class FirehoseInputRecord(BaseModel):
    """One record of a Firehose data-transformation event (Kinesis Data Streams source)."""

    model_config = ConfigDict(extra="ignore")
    recordId: str = Field(min_length=1)  # noqa: N815 - Firehose's field name
    data: str  # base64 of the stream record's bytes
    approximateArrivalTimestamp: int | None = None  # noqa: N815


class FirehoseTransformationEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    invocationId: str = ""  # noqa: N815
    deliveryStreamArn: str = ""  # noqa: N815
    records: list[FirehoseInputRecord]


class PartitionMetadata(BaseModel):
    partitionKeys: dict[str, str]  # noqa: N815


class FirehoseOutputRecord(BaseModel):
    recordId: str  # noqa: N815
    result: Literal["Ok", "Dropped", "ProcessingFailed"]
    data: str
    metadata: PartitionMetadata | None = None


class FirehoseTransformationResponse(BaseModel):
    records: list[FirehoseOutputRecord]


@dataclass(frozen=True)
class RecordOutcome:
    """What one stream record becomes: `lines` (the events' JSON lines, each with its newline) and their
    `partition`, or `failure` (why it is ProcessingFailed)."""

    lines: bytes = b""
    events: int = 0
    partition: Partition | None = None
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def _failed(reason: str) -> RecordOutcome:
    return RecordOutcome(failure=reason)


def transform_record(data: bytes) -> RecordOutcome:
    """One stream record -> its events as JSON lines and their one partition, or why it fails."""
    try:
        text = record_text(data)
    except UnreadableRecordError as exc:
        return _failed(str(exc))
    out: list[bytes] = []
    hour: bytes | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            return _failed("a line is not JSON")
        timestamp = event.get("timestamp") if isinstance(event, dict) else None
        if not isinstance(timestamp, str):
            return _failed("a line is not an event with a wire timestamp")
        event_hour = timestamp.encode()[0:13]
        if not _WIRE_HOUR.fullmatch(event_hour):
            return _failed(f"unreadable event timestamp {timestamp[:40]!r}")
        if hour is None:
            hour = event_hour
        elif event_hour != hour:
            return _failed("the record mixes event hours")
        out.append(line.strip())
        out.append(b"\n")
    if hour is None:
        return _failed("the record holds no event")
    return RecordOutcome(
        lines=b"".join(out), events=len(out) // 2, partition=partition_of_wire_timestamp(hour.decode())
    )


@dataclass(frozen=True)
class TransformResult:
    response: FirehoseTransformationResponse
    events: int  # events output in Ok records
    failures: tuple[tuple[str, str], ...]  # (recordId, reason) of every ProcessingFailed record


def transform(event: FirehoseTransformationEvent) -> TransformResult:
    """A Firehose transformation event -> its response: one output record per input record, same ids, same order."""
    records: list[FirehoseOutputRecord] = []
    failures: list[tuple[str, str]] = []
    events = 0
    for record in event.records:
        try:
            outcome = transform_record(base64.b64decode(record.data, validate=True))
        except (binascii.Error, ValueError):
            outcome = _failed("the record's data is not base64")
        if outcome.partition is None or outcome.failure is not None:
            failures.append((record.recordId, outcome.failure or "no partition"))
            # The data as received: Firehose writes it to the error prefix.
            records.append(FirehoseOutputRecord(recordId=record.recordId, result=PROCESSING_FAILED, data=record.data))
            continue
        events += outcome.events
        keys = {"dt": outcome.partition.dt, "hr": outcome.partition.hr}
        records.append(
            FirehoseOutputRecord(
                recordId=record.recordId,
                result=OK,
                data=base64.b64encode(outcome.lines).decode(),
                metadata=PartitionMetadata(partitionKeys=keys),
            )
        )
    return TransformResult(
        response=FirehoseTransformationResponse(records=records), events=events, failures=tuple(failures)
    )
