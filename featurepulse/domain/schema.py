"""The enriched event: one record on the stream, one row in the lake (docs/design.md section 2).

`EnrichedEvent` is the single definition. The Glue table columns, the Parquet/Arrow schema and the
Flink source schema are all derived from its fields (see `lake_columns`), so they cannot drift apart.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_serializer

SCHEMA_VERSION = 1

EventType = Literal["track", "page", "screen", "identify", "group", "alias"]
EVENT_TYPES: tuple[str, ...] = typing.get_args(EventType)


class EnrichedEvent(BaseModel):
    """One validated, enriched event. Field order is the column order of the lake table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    source_id: str
    type: EventType
    event: str | None = None
    feature: str | None = None
    stage: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    session_id: str | None = None
    timestamp: datetime
    sent_at: datetime | None = None
    received_at: datetime
    campaign_name: str | None = None
    campaign_source: str | None = None
    campaign_medium: str | None = None
    campaign_term: str | None = None
    campaign_content: str | None = None
    experiment_id: str | None = None
    variation_id: str | None = None
    duration_ms: int | None = None
    platform: str | None = None
    app_version: str | None = None
    country: str | None = None
    ip_prefix: str | None = None
    user_agent: str | None = None
    properties: str = "{}"
    context: str = "{}"
    schema_version: int = SCHEMA_VERSION

    @field_serializer("timestamp", "sent_at", "received_at")
    def _serialize_time(self, value: datetime | None) -> str | None:
        return None if value is None else format_timestamp(value)

    @property
    def partition_key(self) -> str:
        """Kinesis partition key: per-user order, never a constant."""
        return partition_key_for(self.user_id, self.anonymous_id, self.event_id)


def partition_key_for(user_id: str | None, anonymous_id: str | None, event_id: str) -> str:
    return user_id or anonymous_id or event_id


def format_timestamp(value: datetime) -> str:
    """The wire format of every time on the stream: ISO-8601 UTC, millisecond precision, trailing Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    """Inverse of `format_timestamp` (also accepts any ISO-8601 form with an offset)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --- derived schemas ---------------------------------------------------------------------------

ColumnType = Literal["string", "bigint", "timestamp"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool


_PY_TO_COLUMN: dict[type, ColumnType] = {str: "string", int: "bigint", datetime: "timestamp"}


def _column_for(name: str, annotation: Any) -> Column:
    nullable = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        (annotation,) = args
        origin = typing.get_origin(annotation)
    if origin is Literal:
        annotation = type(typing.get_args(annotation)[0])
    return Column(name=name, type=_PY_TO_COLUMN[annotation], nullable=nullable)


def lake_columns() -> tuple[Column, ...]:
    """Columns of the lake table, in order, derived from `EnrichedEvent`."""
    return tuple(_column_for(name, f.annotation) for name, f in EnrichedEvent.model_fields.items())


def glue_columns() -> list[dict[str, str]]:
    """`Columns` of the Glue `events` table (StorageDescriptor), derived from `EnrichedEvent`."""
    return [{"Name": c.name, "Type": c.type} for c in lake_columns()]


# Partition columns of the lake (event time, UTC): s3://<lake>/events/dt=YYYY-MM-DD/hr=HH/
PARTITION_COLUMNS: tuple[str, ...] = ("dt", "hr")


def partition_values(event_time: datetime) -> dict[str, str]:
    """The lake partition of an event, from its (corrected) event time in UTC."""
    t = event_time.astimezone(UTC)
    return {"dt": t.strftime("%Y-%m-%d"), "hr": t.strftime("%H")}
