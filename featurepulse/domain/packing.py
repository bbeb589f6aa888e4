"""Stream record packing (docs/design.md section 2).

A Kinesis record carries one or more enriched events of the same partition key as JSON Lines
(one JSON object per line, each line ending in a newline). Kinesis and Firehose bill per record, so
packing cuts cost; Firehose de-aggregates with `RecordDeAggregation` (SubRecordType JSON), Flink and
the local consumers use `unpack_record`. Every consumer unpacks; no consumer assumes one event per record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

# One Kinesis PUT payload unit is 25 KB: packing beyond it saves nothing on on-demand streams and
# only delays consumers. A single event larger than this still travels alone in its own record.
MAX_PACKED_RECORD_BYTES = 25 * 1024
# Hard Kinesis limits for PutRecords.
MAX_RECORDS_PER_PUT = 500
MAX_BYTES_PER_PUT = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StreamRecord:
    partition_key: str
    data: bytes
    event_ids: tuple[str, ...]

    @property
    def size(self) -> int:
        """Size as Kinesis counts it against the 5 MB request limit (data + partition key)."""
        return len(self.data) + len(self.partition_key.encode())


def pack_events(
    events: Iterable[tuple[str, str, bytes]], max_record_bytes: int = MAX_PACKED_RECORD_BYTES
) -> list[StreamRecord]:
    """Pack serialized events into stream records.

    `events` yields (partition_key, event_id, json_line_without_newline). Events keep their order within a
    partition key (per-user order); a record never mixes partition keys.
    """
    open_records: dict[str, tuple[list[bytes], list[str], int]] = {}
    records: list[StreamRecord] = []

    def close(key: str) -> None:
        lines, ids, _ = open_records.pop(key)
        records.append(StreamRecord(partition_key=key, data=b"".join(lines), event_ids=tuple(ids)))

    for key, event_id, line in events:
        line_n = line + b"\n"
        current = open_records.get(key)
        if current is not None and current[2] + len(line_n) > max_record_bytes:
            close(key)
            current = None
        if current is None:
            open_records[key] = ([line_n], [event_id], len(line_n))
        else:
            current[0].append(line_n)
            current[1].append(event_id)
            open_records[key] = (current[0], current[1], current[2] + len(line_n))
    for key in list(open_records):
        close(key)
    return records


def unpack_record(data: bytes) -> Iterator[dict[str, Any]]:
    """Yield the enriched-event dicts packed in one stream record."""
    for line in data.splitlines():
        if line.strip():
            yield orjson.loads(line)


def chunk_for_put(records: list[StreamRecord]) -> list[list[StreamRecord]]:
    """Split records into PutRecords requests of at most 500 records and 5 MB."""
    chunks: list[list[StreamRecord]] = []
    current: list[StreamRecord] = []
    current_bytes = 0
    for record in records:
        if current and (len(current) >= MAX_RECORDS_PER_PUT or current_bytes + record.size > MAX_BYTES_PER_PUT):
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(record)
        current_bytes += record.size
    if current:
        chunks.append(current)
    return chunks
