"""An event nested deeper than orjson can serialize is quarantined whole; the valid events beside it are kept."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from featurepulse.domain.packing import unpack_record
from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from featurepulse.ingest.deepjson import dumps_any
from featurepulse.ingest.enrich import EnrichmentConfig
from featurepulse.ingest.request import BATCH, parse_request, prepare_events
from featurepulse.ingest.timestamps import parse_iso_ms

RECEIVED_AT_MS = parse_iso_ms("2026-11-25T12:00:01.000Z")


def _nested_json(depth: int) -> bytes:
    """JSON text of `depth` nested arrays around an object, written by hand (orjson cannot write it)."""
    return b"[" * depth + b'{"leaf":"x"}' + b"]" * depth


def test_a_too_deep_event_is_quarantined_whole_and_the_valid_event_beside_it_is_kept() -> None:
    # Given a batch with a valid event and an event nested 600 levels deep (orjson serializes at most 254)
    deep = b'{"type":"track","userId":"u-deep","event":"Feature Used","properties":{"blob":' + _nested_json(600) + b"}}"
    valid = b'{"type":"track","userId":"u-ok","event":"Feature Used","messageId":"m-ok"}'
    body = b'{"sentAt":"2026-11-25T12:00:00.000Z","batch":[' + valid + b"," + deep + b"]}"

    # When it is prepared
    prepared = prepare_events(
        parse_request(body, BATCH),
        source_id="src",
        request_id="req",
        received_at_ms=RECEIVED_AT_MS,
        config=EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP),
    )

    # Then the valid event goes to the stream
    on_stream = [e["event_id"] for r in prepared.records for e in unpack_record(r.data)]
    assert on_stream == ["m-ok"]
    # And the deep one is rejected with a clear reason and quarantined with its whole content
    assert [(r.index, r.reason) for r in prepared.rejections] == [(1, "the event is nested deeper than 254 levels")]
    (row,) = prepared.quarantined
    assert orjson.loads(row.raw)["properties"] == orjson.loads(deep)["properties"]
    assert row.user_id == "u-deep"


@settings(max_examples=50, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
        max_leaves=20,
    ),
    st.booleans(),
)
def test_the_fallback_encoder_writes_the_same_json_as_orjson(value: Any, sort_keys: bool) -> None:
    # Given any JSON value / When both encoders write it / Then they read back equal, and equal byte for byte
    from featurepulse.ingest.deepjson import _dumps_iterative

    text = _dumps_iterative(value, sort_keys=sort_keys)
    assert json.loads(text) == value
    assert text.encode() == orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    assert dumps_any(value, sort_keys=sort_keys) == text.encode()
