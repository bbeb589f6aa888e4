"""Helpers of the request-path unit tests (`parse_request` + `prepare_events` without a handler)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from featurepulse.domain.packing import unpack_record
from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from featurepulse.ingest.enrich import EnrichmentConfig
from featurepulse.ingest.request import BATCH, PreparedRequest, parse_request, prepare_events
from featurepulse.ingest.timestamps import parse_iso_ms

EVENTS = Path(__file__).parent.parent / "events"
RECEIVED_AT_MS = parse_iso_ms("2026-11-25T12:00:01.000Z")
CONFIG = EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP)
SOURCE_IP = "198.51.100.7"


def prepare(body: bytes, route: str = BATCH) -> PreparedRequest:
    """A body read and prepared as the handler does, for source `src_test`, received at `RECEIVED_AT_MS`."""
    return prepare_events(
        parse_request(body, route),
        source_id="src_test",
        request_id="req-1",
        received_at_ms=RECEIVED_AT_MS,
        config=CONFIG,
        source_ip=SOURCE_IP,
    )


def stream_events(prepared: PreparedRequest) -> list[dict[str, Any]]:
    """The stored events, read from the stream records as every consumer reads them (records may be compressed)."""
    return [event for record in prepared.records for event in unpack_record(record.data)]


def stored_lines(prepared: PreparedRequest) -> list[bytes]:
    """The JSON lines of the stored events."""
    return [orjson.dumps(event) for event in stream_events(prepared)]


def track(i: int, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Feature Used", "userId": f"u-{i}", "messageId": f"m-{i}", **extra}
