"""Where things live in the lake bucket, and how an event's partition is computed.

The partition of an event is its corrected event time in UTC, hour granularity:
`events/dt=YYYY-MM-DD/hr=HH/`. In AWS, Firehose's processing Lambda gives it as the record's partition keys
(featurepulse/lake/transform.py, `partitionKeyFromLambda` in `FIREHOSE_EVENTS_PREFIX`) by slicing the wire
timestamp with `partition_of_wire_timestamp`; the local Firehose runs the same transform, and `partition_of` does
it from a datetime. A test proves they agree for every representable time.

Edge cases, on purpose:
- midnight: 23:59:59.999 belongs to hr=23 of that day, 00:00:00.000 to hr=00 of the next day;
- late events land in the (old) partition of their event time, in a new file: partitions are never closed;
- client clock skew is corrected by ingest before the event reaches the stream, so the partition is the
  corrected time; events too far in the future are refused at ingest and never reach the lake;
- the partition never depends on the receive time, the arrival time or the machine's time zone.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from featurepulse.constants import LAKE_EVENTS_PREFIX, QUARANTINE_PREFIX
from featurepulse.domain.schema import partition_values

EVENTS_PREFIX = LAKE_EVENTS_PREFIX
ERRORS_PREFIX = "errors/"
AUDIT_ERASURE_PREFIX = "audit/erasure/"
AUDIT_REPLAY_PREFIX = "audit/replay/"
PARQUET_SUFFIX = ".parquet"

# Firehose dynamic partitioning: the processing Lambda returns {dt, hr} per record (one event hour per record,
# featurepulse/domain/packing.py). The wire format of `timestamp` is fixed (`format_timestamp`:
# YYYY-MM-DDTHH:MM:SS.mmmZ, always UTC), so slicing is exact.
PARTITION_KEY_NAMES = ("dt", "hr")
FIREHOSE_EVENTS_PREFIX = f"{EVENTS_PREFIX}dt=!{{partitionKeyFromLambda:dt}}/hr=!{{partitionKeyFromLambda:hr}}/"
# Records Firehose cannot process (ProcessingFailed from the Lambda, format conversion failure...) go here, by
# error type and by the time Firehose processed them (an event that cannot be parsed has no usable event time).
FIREHOSE_ERRORS_PREFIX = (
    f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/dt=!{{timestamp:yyyy-MM-dd}}/hr=!{{timestamp:HH}}/"
)

_PARTITION_RE = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/hr=(\d{2})/")


@dataclass(frozen=True, order=True)
class Partition:
    dt: str  # YYYY-MM-DD
    hr: str  # HH, 00-23

    def prefix(self, root: str = EVENTS_PREFIX) -> str:
        return f"{root}dt={self.dt}/hr={self.hr}/"

    @property
    def start(self) -> datetime:
        return datetime.strptime(f"{self.dt} {self.hr}", "%Y-%m-%d %H").replace(tzinfo=UTC)


def partition_of(event_time: datetime) -> Partition:
    """The partition of an event from its corrected event time (naive datetimes are taken as UTC)."""
    if event_time.tzinfo is None:
        event_time = event_time.replace(tzinfo=UTC)
    values = partition_values(event_time)
    return Partition(dt=values["dt"], hr=values["hr"])


def partition_of_wire_timestamp(timestamp: str) -> Partition:
    """The partition the processing Lambda gives a record from its events' wire timestamp (transform.py)."""
    return Partition(dt=timestamp[0:10], hr=timestamp[11:13])


def partition_of_key(key: str) -> Partition | None:
    """The partition encoded in an object key (`.../dt=YYYY-MM-DD/hr=HH/...`), if any."""
    match = _PARTITION_RE.search(key)
    return Partition(dt=match.group(1), hr=match.group(2)) if match else None


def partitions_between(start: datetime, end: datetime) -> list[Partition]:
    """Every hourly partition whose hour overlaps [start, end] (both inclusive), in order."""
    current = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    out: list[Partition] = []
    while current <= end:
        out.append(partition_of(current))
        current += timedelta(hours=1)
    return out


def data_file_name(writer_name: str, created_at: datetime, unique: str | None = None) -> str:
    """A data file name in Firehose's style: `<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid>.parquet`."""
    stamp = created_at.astimezone(UTC).strftime("%Y-%m-%d-%H-%M-%S")
    return f"{writer_name}-1-{stamp}-{unique or uuid.uuid4()}{PARQUET_SUFFIX}"


def is_data_file(key: str) -> bool:
    return key.startswith(EVENTS_PREFIX) and key.endswith(PARQUET_SUFFIX)


def is_quarantine_object(key: str) -> bool:
    return key.startswith(QUARANTINE_PREFIX) and key.endswith(".jsonl")
