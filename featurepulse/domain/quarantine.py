"""Quarantined events (docs/design.md sections 1 and 4): invalid events are stored with their reason, never dropped.

Layout: `s3://<lake>/quarantine/dt=YYYY-MM-DD/hr=HH/<received_at>-<request_id>.jsonl`, partitioned by the
time the event was received (an invalid event may have no usable event time). One JSON object per line,
with the fields of `QuarantinedEvent`; `raw` is the event as the client sent it, as JSON text (without
`writeKey` and ip keys), and the row keeps what ingest applied to it from the request (the batch's `sentAt` and
`context`, once per request, the ip prefix, the derived event id), so that `featurepulse quarantine replay` can
re-validate it after a fix and store exactly the event ingest would have stored (docs/api.md, Quarantine).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_serializer

from featurepulse.domain.schema import format_timestamp, partition_values


class QuarantinedEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    quarantine_id: str
    source_id: str | None
    request_id: str
    index: int
    reason: str
    received_at: datetime
    # Best-effort identity, so GDPR erasure can find the rows of a user even in invalid events.
    user_id: str | None = None
    anonymous_id: str | None = None
    message_id: str | None = None
    raw: str
    # The size of `raw` as read, in bytes; `truncated`: `raw` holds only its first bytes (an event over the
    # 32 KB limit as sent, which no replay can store). Absent (None, False) in rows written before the cap.
    raw_bytes: int | None = None
    truncated: bool = False
    # The request's batch values (JSON text `{"sentAt"?, "context"?}`, without ip keys), on the first quarantined
    # event of the request; its other quarantined events give that row's `index` in `batch_index`.
    batch: str | None = None
    batch_index: int | None = None
    # What ingest gives the event from the parts `raw` leaves out: the truncated network of its `context.ip` or
    # of the request's source address, and the id derived from its content when it has no `messageId`.
    ip_prefix: str | None = None
    generated_event_id: str | None = None

    @field_serializer("received_at")
    def _serialize_time(self, value: datetime) -> str:
        return format_timestamp(value)


def quarantine_key(prefix: str, received_at: datetime, request_id: str) -> str:
    """Object key of one request's quarantined events."""
    parts = partition_values(received_at)
    stamp = received_at.strftime("%Y%m%dT%H%M%S%f")
    return f"{prefix.rstrip('/')}/dt={parts['dt']}/hr={parts['hr']}/{stamp}-{request_id}.jsonl"
