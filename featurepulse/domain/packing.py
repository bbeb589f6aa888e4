"""Stream record packing (docs/design.md section 2, docs/lake.md "Stream records").

A Kinesis record carries one or more enriched events of ONE partition key and ONE event hour (the dt/hr the
lake partitions by, featurepulse/lake/layout.py) as gzip-compressed JSON Lines (level 6; one JSON object per
line, each line ending in a newline). Kinesis and Firehose bill per record (Firehose rounds each record up to
5 KB and bills ingestion and format conversion on the record's bytes), so packing and compression cut cost.

Every consumer reads a record with `unpack_record` or `record_text` (featurepulse/domain/record_format.py, the
one rule, standard library only for the Flink job): a record that starts with
the gzip magic bytes (1f 8b) is gzip, anything else is plain JSON Lines (records written before compression, and
the single events stored plain below). No consumer assumes one event per record.

Bounds (why the numbers below are what they are):
- Decompression ratio: every record holds `len(decompressed) <= MAX_DECOMPRESSION_RATIO * len(data)` (16x). A
  record over it is split in halves (by events, order kept) until each part holds; a single event that alone
  compresses more than 16x is stored plain (ratio 1). So whatever Firehose buffers, the Lambda that
  decompresses it (featurepulse/lake/transform.py) answers at most 16x the bytes it was given, plus base64.
- The Firehose Lambda processor buffer is `FIREHOSE_PROCESSOR_BUFFER_MB` = 0.2 MB (the minimum; allowed 0.2-3 MB),
  and a Lambda response is limited to 6 MB. Worst case, counted in MiB-sized megabytes (0.2 MB = 209,716 bytes):
    buffered records, <= 209,716 bytes, each >= MIN_RECORD_BYTES (128) bytes, so <= 1,638 records:
      data:      4/3 (base64) x 16 x 209,716                          = 4,473,942 bytes
      per record: <= 304 bytes of JSON around the data (a record id of up to 190 characters, result,
                  partition keys, base64 padding) x 1,638              =   497,952 bytes
    one more record in case Firehose lets the last record cross the hint, <= MAX_PACKED_RECORD_BYTES (512 KiB)
    decompressed: 4/3 x 524,288 + 304                                  =   699,355 bytes
    total                                                              = 5,671,249 bytes < 6,000,000
  With a 1 MB buffer the first line alone would be 22 MB: the processor buffer must stay at 0.2 MB.
- The uncompressed packing cap `MAX_PACKED_RECORD_BYTES` is 512 KiB (was 25 KB when records were billed
  uncompressed): it is the largest power of two that keeps the total above under 6 MB (1 MiB would not), and a
  record's compressed bytes stay far below Kinesis's 1 MB record limit. The 5 MB / 500-record PutRecords limits
  hold on the compressed records (`chunk_for_put`).
- Small records travel plain: a record whose JSON Lines are at most `PLAIN_RECORD_MAX_BYTES` (5 KB) is not
  compressed. Firehose bills each record as at least 5 KB and Kinesis PUT payload units are 25 KB, so compressing
  it would lower no bill, and gzip's fixed cost (~27 us a call, most of it zlib's state set-up) would triple the
  ingest CPU of a batch of many users' single events (docs/performance.md, Ingest). Only an on-demand stream,
  billed per KB, or a shard near its 1 MB/s would notice: ~2 KB instead of ~1 KB for a lone 1.4 KB event.
- Per-user order: a key's events are packed in the order they come; a record is closed whenever the key's next
  event is of another hour or would cross the cap, so consecutive records of a key never reorder its events.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from featurepulse.domain.record_format import (
    GZIP_MAGIC,
    GZIP_WBITS,
    MAX_DECOMPRESSION_RATIO,
    MAX_PACKED_RECORD_BYTES,
    UnreadableRecordError,
    record_text,
)

__all__ = [
    "FIREHOSE_PROCESSOR_BUFFER_MB",
    "GZIP_MAGIC",
    "MAX_BYTES_PER_PUT",
    "MAX_DECOMPRESSION_RATIO",
    "MAX_PACKED_RECORD_BYTES",
    "MAX_RECORDS_PER_PUT",
    "MAX_RECORD_BYTES",
    "MIN_RECORD_BYTES",
    "PLAIN_RECORD_MAX_BYTES",
    "RecordPacker",
    "StreamRecord",
    "UnreadableRecordError",
    "chunk_for_put",
    "event_hour",
    "pack_events",
    "record_text",
    "seal_record",
    "unpack_record",
]

GZIP_LEVEL = 6  # zlib's gzip container writes mtime 0: the same events always give the same bytes
# Records of at most this many bytes of JSON Lines travel plain (Firehose's 5 KB record rounding: see above).
PLAIN_RECORD_MAX_BYTES = 5 * 1024
# The smallest record packing can produce: the smallest enriched event, gzip (tests/unit/test_packing.py).
MIN_RECORD_BYTES = 128
# Firehose Lambda processor buffer (BufferSizeInMBs, allowed 0.2-3; cdk/lake.py), from the arithmetic above.
FIREHOSE_PROCESSOR_BUFFER_MB = 0.2
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


def event_hour(timestamp: object) -> str:
    """The record group of an event: `YYYY-MM-DDTHH` of its wire timestamp, i.e. its lake partition (dt/hr of
    featurepulse/lake/layout.py `partition_of_wire_timestamp`); "" for an event without a usable timestamp."""
    return timestamp[0:13] if isinstance(timestamp, str) else ""


class RecordPacker:
    """Packs enriched lines into stream records as they come (the ingest request path and `pack_events`).

    `add` takes one line WITH its newline; `finish` closes the open records and returns every record, in the
    order they were closed (a key's new record opens after every other open record)."""

    def __init__(self, max_record_bytes: int = MAX_PACKED_RECORD_BYTES) -> None:
        self.max_record_bytes = max_record_bytes
        self.records: list[StreamRecord] = []
        # partition key -> [hour, bytes so far, [lines], [event ids]] of its open record (lists: the hot path)
        self._open: dict[str, list[Any]] = {}

    def add(self, key: str, event_id: str, line: bytes, hour: str) -> None:
        current = self._open.get(key)
        if current is None:
            self._open[key] = [hour, len(line), [line], [event_id]]
        elif current[0] != hour or current[1] + len(line) > self.max_record_bytes:
            del self._open[key]
            seal_record(key, current[2], current[3], self.records)
            self._open[key] = [hour, len(line), [line], [event_id]]
        else:
            current[1] += len(line)
            current[2].append(line)
            current[3].append(event_id)

    def finish(self) -> list[StreamRecord]:
        for key, current in self._open.items():
            seal_record(key, current[2], current[3], self.records)
        self._open.clear()
        return self.records


def seal_record(key: str, lines: list[bytes], ids: list[str], out: list[StreamRecord]) -> None:
    """Compress the lines (each with its newline) of one key and hour into records appended to `out`: one record
    if it holds the ratio bound, else the two halves (recursively); a lone event over the bound is stored plain,
    and so is a record of at most PLAIN_RECORD_MAX_BYTES."""
    raw = lines[0] if len(lines) == 1 else b"".join(lines)
    if len(raw) <= PLAIN_RECORD_MAX_BYTES:
        out.append(StreamRecord(key, raw, tuple(ids)))
        return
    data = zlib.compress(raw, GZIP_LEVEL, wbits=GZIP_WBITS)
    if len(raw) <= MAX_DECOMPRESSION_RATIO * len(data):
        out.append(StreamRecord(key, data, tuple(ids)))
    elif len(lines) == 1:
        out.append(StreamRecord(key, raw, tuple(ids)))
    else:
        half = len(lines) // 2
        seal_record(key, lines[:half], ids[:half], out)
        seal_record(key, lines[half:], ids[half:], out)


def pack_events(
    events: Iterable[tuple[str, str, bytes]], max_record_bytes: int = MAX_PACKED_RECORD_BYTES
) -> list[StreamRecord]:
    """Pack serialized events into stream records.

    `events` yields (partition_key, event_id, json_line_without_newline); each line's `timestamp` decides its hour.
    Events keep their order within a partition key (per-user order); a record never mixes partition keys or
    event hours, and holds the decompression-ratio bound.
    """
    packer = RecordPacker(max_record_bytes)
    for key, event_id, line in events:
        try:
            timestamp = orjson.loads(line).get("timestamp")
        except (orjson.JSONDecodeError, AttributeError):
            timestamp = None
        packer.add(key, event_id, line + b"\n", event_hour(timestamp))
    return packer.finish()


def unpack_record(data: bytes) -> Iterator[dict[str, Any]]:
    """Yield the enriched-event dicts packed in one stream record (gzip or plain JSON Lines)."""
    for line in record_text(data).splitlines():
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
