"""The request path packs its stream records exactly as `featurepulse.domain.packing.pack_events` does.

`prepare_events` packs inline (lines serialized with their newline, no copy per line); this property proves the
records are the ones `pack_events` makes from the same enriched lines: same keys, same order, same cuts.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from featurepulse.domain.packing import pack_events
from featurepulse.domain.schema import EnrichedEvent
from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from featurepulse.ingest.enrich import EnrichmentConfig, RequestInfo, enrich_event
from featurepulse.ingest.request import BATCH, parse_request, prepare_events
from featurepulse.ingest.timestamps import parse_iso_ms

RECEIVED_AT_MS = parse_iso_ms("2026-11-25T12:00:01.000Z")
CONFIG = EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP)
SENT_AT = "2026-11-25T12:00:00.500Z"

# Pads from nothing to 20 KB: several events of one user cross the 25 KB record size, a few do not.
events = st.fixed_dictionaries(
    {
        "user": st.sampled_from(["u1", "u2", "u3", None]),
        "anonymous": st.sampled_from(["a1", "a2", None]),
        "pad": st.sampled_from([0, 40, 6_000, 9_000, 20_000]),
        "valid": st.booleans() | st.just(True),
    }
)


def _raw(i: int, spec: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": "track", "event": "Feature Used", "messageId": f"m{i}"}
    if spec["user"]:
        raw["userId"] = spec["user"]
    if spec["anonymous"]:
        raw["anonymousId"] = spec["anonymous"]
    if spec["pad"]:
        raw["properties"] = {"feature": "f", "pad": "x" * spec["pad"]}
    if not spec["valid"]:
        raw["timestamp"] = "not a time"
    return raw


@settings(max_examples=150, deadline=None)
@given(st.lists(events, min_size=1, max_size=14))
def test_records_are_those_pack_events_makes_from_the_same_lines(specs: list[dict[str, Any]]) -> None:
    # Given a batch of valid and invalid events of a few users, some large enough to fill records
    batch = [_raw(i, spec) for i, spec in enumerate(specs)]
    body = orjson.dumps({"batch": batch, "sentAt": SENT_AT})

    # When the request path prepares it
    prepared = prepare_events(
        parse_request(body, BATCH),
        source_id="src_test",
        request_id="req-1",
        received_at_ms=RECEIVED_AT_MS,
        config=CONFIG,
        source_ip="198.51.100.7",
    )

    # Then its records are exactly what pack_events makes of the accepted events' lines
    request = RequestInfo(
        source_id="src_test",
        received_at_ms=RECEIVED_AT_MS,
        source_ip="198.51.100.7",
        sent_at_ms=parse_iso_ms(SENT_AT),
    )
    lines = []
    for raw in batch:
        try:
            enriched = enrich_event(raw, None, request, CONFIG)
        except ValueError:
            continue
        model = EnrichedEvent.model_validate(enriched)
        lines.append((model.partition_key, model.event_id, orjson.dumps(enriched)))
    assert prepared.records == pack_events(lines)
    assert prepared.accepted == len(lines)
    assert prepared.accepted + len(prepared.rejections) == len(batch)
