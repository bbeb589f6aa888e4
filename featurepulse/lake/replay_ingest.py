"""What replay borrows from ingest: its validation/enrichment and its stream writer (one definition of each)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from featurepulse.domain.packing import pack_events
from featurepulse.domain.quarantine import QuarantinedEvent
from featurepulse.domain.schema import partition_key_for
from featurepulse.domain.stages import stage_map_from_env
from featurepulse.ingest.enrich import EnrichmentConfig, RequestInfo, enrich_event
from featurepulse.ingest.limits import MAX_EVENT_BYTES
from featurepulse.ingest.timestamps import to_ms
from featurepulse.lake.replay import EventKey, Send, event_key

UNKNOWN_SOURCE = "unknown"
# A replay is an operator's command, not a client waiting for an answer: it can afford long retries.
REPLAY_PUT_BUDGET_MS = 60_000


def revalidate_with_ingest(quarantined: QuarantinedEvent) -> dict[str, Any]:
    """Run today's ingest rules on the event as the client sent it, as if it arrived when it did arrive."""
    try:
        raw = orjson.loads(quarantined.raw)
    except orjson.JSONDecodeError:
        raise ValueError("the quarantined event is not JSON") from None
    # The per-event size limit is checked by the request path (prepare_events), not by enrich_event.
    if len(orjson.dumps(raw)) > MAX_EVENT_BYTES:
        raise ValueError(f"the event is larger than {MAX_EVENT_BYTES} bytes (32 KB)")
    request = RequestInfo(
        source_id=quarantined.source_id or UNKNOWN_SOURCE, received_at_ms=to_ms(quarantined.received_at)
    )
    return enrich_event(raw, None, request, EnrichmentConfig(stage_map=stage_map_from_env()))


def stream_sender(kinesis: Any, stream_name: str, *, time_budget_ms: int = REPLAY_PUT_BUDGET_MS) -> Send:
    """Send enriched events as ingest does: packed per user (`pack_events`), put with the ingest data layer's
    retries (`put_events_to_stream`). Returns the (source_id, event_id) of the events still not on the stream
    when the budget ran out."""
    from featurepulse.dal.stream import put_events_to_stream

    def send(events: Sequence[dict[str, Any]]) -> Sequence[EventKey]:
        # Records carry each event's position as its label: two sources may send the same messageId, and a
        # failure must name the one event that failed.
        records = pack_events(
            (partition_key_for(e.get("user_id"), e.get("anonymous_id"), e["event_id"]), str(i), orjson.dumps(e))
            for i, e in enumerate(events)
        )
        outcome = put_events_to_stream(kinesis, stream_name, records, time_budget_ms=time_budget_ms)
        return [event_key(events[int(label)]) for record in outcome.failed for label in record.event_ids]

    return send
