"""What replay borrows from ingest: its validation/enrichment and its stream writer (one definition of each)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from featurepulse.domain.packing import pack_events
from featurepulse.domain.quarantine import QuarantinedEvent
from featurepulse.domain.schema import partition_key_for
from featurepulse.domain.stages import stage_map_from_env
from featurepulse.ingest.deepjson import MAX_SERIALIZABLE_DEPTH
from featurepulse.ingest.enrich import EnrichmentConfig, RequestInfo, enrich_event, generated_event_id
from featurepulse.ingest.limits import MAX_EVENT_BYTES
from featurepulse.ingest.request import stored_too_large
from featurepulse.ingest.timestamps import parse_iso_ms, to_ms
from featurepulse.lake.replay import EventKey, Send, event_key

UNKNOWN_SOURCE = "unknown"
# A replay is an operator's command, not a client waiting for an answer: it can afford long retries.
REPLAY_PUT_BUDGET_MS = 60_000


def revalidate_with_ingest(quarantined: QuarantinedEvent) -> dict[str, Any]:
    """Run today's ingest rules on the event as the client sent it, as if it arrived when it did arrive: with its
    request's batch `sentAt` and `context` (merged under the event's own, as ingest merges them), and the parts
    of what ingest stored that the quarantine keeps apart (the ip prefix, the derived id). The result is the
    event ingest would have stored, or a ValueError with the reason it still cannot be."""
    if quarantined.truncated:
        raise ValueError(
            f"the event was {quarantined.raw_bytes} bytes, over the {MAX_EVENT_BYTES} bytes (32 KB) limit: the "
            "quarantine kept only its first bytes"
        )
    try:
        raw = orjson.loads(quarantined.raw)
    except orjson.JSONDecodeError:
        raise ValueError("the quarantined event is not JSON") from None
    if quarantined.batch_index is not None and quarantined.batch is None:
        raise ValueError(
            f"the batch context of this event (on the quarantined event with index {quarantined.batch_index}) "
            "is no longer in the quarantine"
        )
    if type(raw) is dict and LEGACY_BATCH_CONTEXT_MARKER in raw:
        raise ValueError(
            f"the batch context was left out of this event when it was quarantined ({raw[LEGACY_BATCH_CONTEXT_MARKER]}"
            "): merge it back under the event's own context to replay it"
        )
    sent_at_ms, context = _batch_values(quarantined.batch)
    source_id = quarantined.source_id or UNKNOWN_SOURCE
    request = RequestInfo(
        source_id=source_id, received_at_ms=to_ms(quarantined.received_at), sent_at_ms=sent_at_ms, context=context
    )
    try:
        # The per-event size limits are checked by the request path (prepare_events), not by enrich_event.
        if len(orjson.dumps(raw)) > MAX_EVENT_BYTES:
            raise ValueError(f"the event is larger than {MAX_EVENT_BYTES} bytes (32 KB)")
        enriched = enrich_event(raw, None, request, EnrichmentConfig(stage_map=stage_map_from_env()))
        if quarantined.ip_prefix is not None:
            enriched["ip_prefix"] = quarantined.ip_prefix  # from the ip the quarantine leaves out, as ingest gave it
        if quarantined.generated_event_id is not None and enriched["event_id"] == generated_event_id(source_id, raw):
            enriched["event_id"] = quarantined.generated_event_id  # derived from the event with its ip keys
        size = len(orjson.dumps(enriched))
    except (orjson.JSONEncodeError, RecursionError):
        raise ValueError(f"the event is nested deeper than {MAX_SERIALIZABLE_DEPTH} levels") from None
    if size > MAX_EVENT_BYTES:
        raise ValueError(stored_too_large(size))
    return enriched


# The marker rows written before the batch values were kept once per request carry instead of the batch context.
LEGACY_BATCH_CONTEXT_MARKER = "$batchContext"


def _batch_values(batch: str | None) -> tuple[int | None, dict[str, Any] | None]:
    if batch is None:
        return None, None
    values = orjson.loads(batch)
    sent_at = values.get("sentAt")
    context = values.get("context")
    return (None if sent_at is None else parse_iso_ms(sent_at)), (context if type(context) is dict else None)


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
