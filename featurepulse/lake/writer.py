"""Buffer events and write them into the lake the way Firehose does (the local stand-in's core).

Each stream record goes through the processing Lambda's own logic (featurepulse/lake/transform.py
`transform_record`): its events and their partition come from it, exactly as in AWS, and a record it fails is
written to errors/processing-failed/ as received. Per partition: rows are buffered until
`BufferingHints.size_bytes` of incoming JSON or `interval_s` seconds since the first buffered row, then written
as one Parquet file `events/dt=/hr=/<name>.parquet` into every store (the local lake directory and the lake
bucket). Records Firehose could not convert go to the error prefix as JSON documents of Firehose's error schema.
Events are de-duplicated on (`source_id`, `event_id`) for the writer's life (a messageId is the client's, unique
only within its source: two sources may send the same one), so every event accepted during a local run is in the
lake exactly once (Firehose itself is at-least-once: see docs/lake.md).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from featurepulse.lake.layout import (
    ERRORS_PREFIX,
    Partition,
    data_file_name,
    partition_of,
    partition_of_wire_timestamp,
)
from featurepulse.lake.parquet import PARQUET_COMPRESSION, rows_to_table, table_to_parquet
from featurepulse.lake.store import ObjectStore
from featurepulse.lake.transform import transform_record

# Firehose's own defaults for an S3 destination with dynamic partitioning are 64 MiB / 300 s (minimum 64 MiB
# with record-format conversion); locally a demo run is small, so its files are cut by `drain`.
DEFAULT_BUFFER_BYTES = 64 * 1024 * 1024
DEFAULT_BUFFER_SECONDS = 300.0


@dataclass(frozen=True)
class BufferingHints:
    size_bytes: int = DEFAULT_BUFFER_BYTES
    interval_s: float = DEFAULT_BUFFER_SECONDS


@dataclass(frozen=True)
class WrittenFile:
    key: str
    rows: int
    bytes: int


@dataclass
class _Buffer:
    opened_at: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0


@dataclass
class WriterStats:
    files: int = 0
    rows: int = 0
    bytes: int = 0
    incoming_bytes: int = 0
    duplicates: int = 0
    errors: int = 0


class LakeWriter:
    def __init__(
        self,
        stores: Sequence[ObjectStore],
        *,
        writer_name: str = "featurepulse-local",
        hints: BufferingHints | None = None,
        compression: str = PARQUET_COMPRESSION,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        seen: Iterable[tuple[str, str]] = (),
    ) -> None:
        """`seen`: the (source_id, event_id) pairs already in the lake, never written again (a restarted writer
        starts from what its predecessor wrote)."""
        self.stores = list(stores)
        self.writer_name = writer_name
        self.hints = hints or BufferingHints()
        self.compression = compression
        self._monotonic = monotonic
        self._now = now
        self._buffers: dict[Partition, _Buffer] = {}
        self._seen: set[tuple[str, str]] = set(seen)  # (source_id, event_id)
        self.stats = WriterStats()
        self.written: list[WrittenFile] = []

    def add_record(self, data: bytes) -> list[WrittenFile]:
        """Add one stream record as Firehose does: the processing Lambda's `transform_record` decompresses it and
        gives its partition (partitionKeyFromLambda); the format conversion reads the JSON lines it outputs."""
        outcome = transform_record(data)
        if outcome.partition is None or outcome.failure is not None:
            self.stats.incoming_bytes += len(data)
            self._write_errors("processing-failed", [(data, outcome.failure or "no partition")])
            return self.flush_due()
        rows = [(orjson.loads(line), line) for line in outcome.lines.splitlines()]
        return self._add(rows, partition=outcome.partition)

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> list[WrittenFile]:
        return self._add([(row, orjson.dumps(row)) for row in rows])

    def _add(
        self, rows: list[tuple[dict[str, Any] | None, bytes]], partition: Partition | None = None
    ) -> list[WrittenFile]:
        """`partition`: the record's partition from the transform (else each row's own, for `add_rows`)."""
        written: list[WrittenFile] = []
        given = partition
        for row, line in rows:
            self.stats.incoming_bytes += len(line) + 1
            partition = given or _partition_or_none(row)
            if row is None or partition is None:
                self._write_errors("processing-failed", [(line, "record is not a JSON object with a timestamp")])
                continue
            key = _dedup_key(row)
            if key is not None:
                if key in self._seen:
                    self.stats.duplicates += 1
                    continue
                self._seen.add(key)
            buffer = self._buffers.get(partition)
            if buffer is None:
                buffer = self._buffers[partition] = _Buffer(opened_at=self._monotonic())
            buffer.rows.append(row)
            buffer.size += len(line) + 1
            if buffer.size >= self.hints.size_bytes:
                written.extend(self._flush_partition(partition))
        written.extend(self.flush_due())
        return written

    def flush_due(self) -> list[WrittenFile]:
        """Write the partitions whose buffering interval has elapsed."""
        now = self._monotonic()
        due = [p for p, b in self._buffers.items() if now - b.opened_at >= self.hints.interval_s]
        return [f for p in sorted(due) for f in self._flush_partition(p)]

    def flush(self) -> list[WrittenFile]:
        """Write every buffered partition now (end of a run)."""
        return [f for p in sorted(self._buffers) for f in self._flush_partition(p)]

    @property
    def buffered_rows(self) -> int:
        return sum(len(b.rows) for b in self._buffers.values())

    def _flush_partition(self, partition: Partition) -> list[WrittenFile]:
        buffer = self._buffers.pop(partition, None)
        if buffer is None or not buffer.rows:
            return []
        result = rows_to_table(buffer.rows)
        if result.rejected:
            self._write_errors(
                "format-conversion-failed", [(orjson.dumps(row), reason) for row, reason in result.rejected]
            )
        if result.table.num_rows == 0:
            return []
        data = table_to_parquet(result.table, compression=self.compression)
        key = partition.prefix() + data_file_name(self.writer_name, self._now())
        for store in self.stores:
            store.put(key, data)
        written = WrittenFile(key=key, rows=result.table.num_rows, bytes=len(data))
        self.stats.files += 1
        self.stats.rows += written.rows
        self.stats.bytes += written.bytes
        self.written.append(written)
        return [written]

    def _write_errors(self, error_type: str, records: list[tuple[bytes, str]]) -> None:
        now = self._now()
        arrival_ms = int(now.timestamp() * 1000)
        docs = [
            orjson.dumps(
                {
                    "attemptsMade": 1,
                    "arrivalTimestamp": arrival_ms,
                    "lastErrorCode": error_type,
                    "lastErrorMessage": reason,
                    "attemptEndingTimestamp": arrival_ms,
                    "rawData": base64.b64encode(raw).decode(),
                }
            )
            for raw, reason in records
        ]
        part = partition_of(now)
        key = f"{ERRORS_PREFIX}{error_type}/dt={part.dt}/hr={part.hr}/{data_file_name(self.writer_name, now)}"
        key = key.removesuffix(".parquet") + ".json"
        body = b"\n".join(docs) + b"\n"
        for store in self.stores:
            store.put(key, body)
        self.stats.errors += len(records)


def _dedup_key(row: dict[str, Any]) -> tuple[str, str] | None:
    """The event's identity: its source and its messageId (the reports de-duplicate on the same pair)."""
    event_id = row.get("event_id")
    if not isinstance(event_id, str):
        return None
    source_id = row.get("source_id")
    return (source_id if isinstance(source_id, str) else "", event_id)


def _partition_or_none(row: dict[str, Any] | None) -> Partition | None:
    if row is None:
        return None
    timestamp = row.get("timestamp")
    if not isinstance(timestamp, str) or len(timestamp) < 13:
        return None
    return partition_of_wire_timestamp(timestamp)
