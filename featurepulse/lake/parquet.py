"""How a lake row is stored: the Arrow/Parquet schema derived from `EnrichedEvent` (via `lake_columns()`).

The same file format as Firehose's record-format conversion: one Parquet file per flush and partition,
columns in model order, `PARQUET_COMPRESSION` (the value the CDK `Lake` construct gives Firehose), dictionary
encoding on. Partition columns (dt, hr) live in the path only, as Firehose writes them.

One difference we cannot remove: Firehose's Hive Parquet writer stores `timestamp` columns as INT96, pyarrow
writes INT64 TIMESTAMP_MILLIS. Athena, DuckDB and pyarrow read both as `timestamp`; rewrites (erasure) keep the
physical types of the file they rewrite.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from featurepulse.domain.schema import PARTITION_COLUMNS, ColumnType, EnrichedEvent, lake_columns

# Firehose ParquetSerDe accepts UNCOMPRESSED | SNAPPY | GZIP. GZIP: the lake is written once and scanned
# many times, and Athena bills bytes scanned, so the smaller files win over SNAPPY's faster decompression
# (figures in docs/performance.md, "## Lake").
PARQUET_COMPRESSION = "GZIP"
# zlib's default level, which Hadoop's GzipCodec (Firehose's Parquet writer) uses; pyarrow would default to 9,
# 2.5x slower for 0.3% smaller files.
GZIP_LEVEL = 6

_ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "timestamp": pa.timestamp("ms"),
}
TIMESTAMP_COLUMNS: tuple[str, ...] = tuple(c.name for c in lake_columns() if c.type == "timestamp")
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in lake_columns())


def arrow_type(column_type: ColumnType) -> pa.DataType:
    return _ARROW_TYPES[column_type]


def arrow_schema() -> pa.Schema:
    """The schema of a lake data file (no partition columns), derived from `lake_columns()`."""
    return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in lake_columns()])


def table_schema() -> pa.Schema:
    """The schema of the `events` table as a reader sees it: the file columns, then dt and hr (strings)."""
    return pa.schema([*arrow_schema(), *(pa.field(name, pa.string(), nullable=False) for name in PARTITION_COLUMNS)])


@dataclass(frozen=True)
class ConversionResult:
    table: pa.Table
    rejected: list[tuple[dict[str, Any], str]]  # (record, reason): what Firehose sends to the error prefix


def rows_to_table(rows: Iterable[Mapping[str, Any]]) -> ConversionResult:
    """Convert wire-format event dicts (as unpacked from the stream) to an Arrow table.

    Like Firehose's conversion: keys that are not columns are ignored, a record whose values do not fit the
    schema (e.g. an unparsable timestamp) is rejected with its reason instead of failing the batch.
    """
    accepted: list[dict[str, Any]] = []
    rejected: list[tuple[dict[str, Any], str]] = []
    for row in rows:
        record = {name: row.get(name) for name in COLUMN_NAMES if name in row}
        try:
            EnrichedEvent.model_validate(record)
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            rejected.append((dict(row), f"format conversion failed: {reason}"))
            continue
        accepted.append(record)
    return ConversionResult(table=_wire_rows_to_table(accepted), rejected=rejected)


def _wire_rows_to_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    wire_schema = pa.schema(
        [
            pa.field(f.name, pa.string() if f.name in TIMESTAMP_COLUMNS else f.type, nullable=True)
            for f in arrow_schema()
        ]
    )
    raw = pa.Table.from_pylist(list(rows), schema=wire_schema)
    columns = []
    for f in arrow_schema():
        col = raw.column(f.name)
        if f.name in TIMESTAMP_COLUMNS:
            # The wire format ends in Z: parse as UTC, then store as a zone-less UTC timestamp (Hive `timestamp`).
            col = col.cast(pa.timestamp("ms", tz="UTC")).cast(f.type)
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=arrow_schema())


def table_to_parquet(table: pa.Table, *, compression: str = PARQUET_COMPRESSION, int96: bool = False) -> bytes:
    """Serialize a table the way the lake stores it."""
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression=compression.lower(),
        compression_level=GZIP_LEVEL if compression.upper() == "GZIP" else None,
        use_dictionary=True,
        write_statistics=True,
        use_deprecated_int96_timestamps=int96,
    )
    return sink.getvalue()


def parquet_to_table(data: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    return pq.read_table(pa.BufferReader(data), columns=list(columns) if columns is not None else None)


@dataclass(frozen=True)
class FileFormat:
    """Physical choices of an existing data file, kept when the file is rewritten."""

    compression: str
    int96: bool
    schema: pa.Schema


def file_format(data: bytes) -> FileFormat:
    pf = pq.ParquetFile(pa.BufferReader(data))
    meta = pf.metadata
    compression = PARQUET_COMPRESSION
    if meta.num_row_groups and meta.num_columns:
        compression = str(meta.row_group(0).column(0).compression)
    int96 = any(pf.schema.column(i).physical_type == "INT96" for i in range(meta.num_columns))
    return FileFormat(compression=compression, int96=int96, schema=pf.schema_arrow)
