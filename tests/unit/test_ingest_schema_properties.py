"""Properties of the event schema and the fast path (hypothesis).

1. Any valid Segment event enriches into a valid `EnrichedEvent`, whose serialization round-trips exactly.
2. The fast path (`enrich_event`) and the pydantic models (`featurepulse.ingest.segment`) accept and refuse
   exactly the same events, valid or not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from featurepulse.domain.packing import pack_events, unpack_record
from featurepulse.domain.schema import EVENT_TYPES, EnrichedEvent
from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from featurepulse.ingest.enrich import EnrichmentConfig, RequestInfo, enrich_event
from featurepulse.ingest.privacy import truncate_ip
from featurepulse.ingest.request import BATCH, RequestError, parse_request, prepare_events
from featurepulse.ingest.segment import EVENT_MODELS, SEGMENT_EVENT_ADAPTER
from featurepulse.ingest.timestamps import to_ms

RECEIVED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REQUEST = RequestInfo(source_id="src_prop", received_at_ms=to_ms(RECEIVED_AT), source_ip="192.0.2.1")
CONFIG = EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=4)

# Times within 6 hours of the receive time, in the forms SDKs send: corrections stay within the future bound.
times = st.datetimes(
    min_value=(RECEIVED_AT - timedelta(hours=6)).replace(tzinfo=None),
    max_value=(RECEIVED_AT + timedelta(hours=6)).replace(tzinfo=None),
    timezones=st.just(UTC),
)
iso_times = st.builds(
    lambda t, spec, z: t.isoformat(timespec=spec).replace("+00:00", "Z") if z else t.isoformat(timespec=spec),
    times,
    st.sampled_from(["milliseconds", "microseconds", "seconds"]),
    st.booleans(),
)
identifiers = st.text(min_size=1, max_size=40) | st.integers(min_value=0, max_value=10**12).map(int)
ips = st.ip_addresses().map(str) | st.sampled_from(["unknown", "", "1.2.3.4:80"])
campaigns = st.fixed_dictionaries(
    {}, optional={k: st.text(max_size=12) | json_scalars for k in ("name", "source", "medium", "term", "content")}
)
contexts = st.fixed_dictionaries(
    {},
    optional={
        "ip": ips,
        "campaign": campaigns | json_values,
        "sessionId": st.text(max_size=12) | st.integers(min_value=0, max_value=2**53),
        "locale": st.sampled_from(["en-US", "de_DE", "fr", "zh-Hant-TW", ""]) | json_scalars,
        "userAgent": st.text(max_size=30),
        "library": st.fixed_dictionaries({"name": st.sampled_from(["analytics.js", "analytics-ios", "x"])}),
        "os": st.fixed_dictionaries({}, optional={"name": json_scalars}),
        "device": st.fixed_dictionaries({}, optional={"type": json_scalars}),
        "app": st.fixed_dictionaries({}, optional={"version": json_scalars}),
        "extra": json_values,
    },
)
properties = st.fixed_dictionaries(
    {},
    optional={
        "feature": st.text(max_size=15) | json_scalars,
        "duration_ms": st.integers(min_value=-5, max_value=10**7) | st.floats(allow_nan=False) | json_scalars,
        "experiment_id": st.text(max_size=10) | json_scalars,
        "variation_id": st.text(max_size=10) | json_scalars,
        "session_id": json_scalars,
        "other": json_values,
    },
)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(EVENT_TYPES))
    event: dict[str, Any] = {"type": kind}
    identity = draw(st.sampled_from(["user", "anonymous", "both"]))
    if identity in ("user", "both"):
        event["userId"] = draw(identifiers)
    if identity in ("anonymous", "both"):
        event["anonymousId"] = draw(identifiers)
    optional = {
        "messageId": st.text(min_size=1, max_size=60),
        "timestamp": iso_times,
        "originalTimestamp": iso_times,
        "sentAt": iso_times,
        "context": contexts,
        "integrations": json_objects,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            event[key] = draw(strategy)
    if kind == "track":
        event["event"] = draw(st.sampled_from([*DEFAULT_STAGE_MAP, "Experiment Viewed"]) | st.text(min_size=1))
    if kind in ("track", "page", "screen") and draw(st.booleans()):
        event["properties"] = draw(properties)
    if kind in ("page", "screen"):
        for key in ("name", "category"):
            if draw(st.booleans()):
                event[key] = draw(st.text(max_size=10))
    if kind in ("identify", "group") and draw(st.booleans()):
        event["traits"] = draw(json_objects)
    if kind == "group":
        event["groupId"] = draw(identifiers)
    if kind == "alias":
        event["previousId"] = draw(identifiers)
    return event


@PROPERTY_SETTINGS
@given(valid_events())
def test_any_valid_segment_event_enriches_into_a_valid_enriched_event(raw: dict[str, Any]) -> None:
    # Given any valid Segment event (as it arrives: parsed from JSON)
    raw = orjson.loads(orjson.dumps(raw))

    # When it is enriched and serialized as a stream line
    line = orjson.dumps(enrich_event(raw, None, REQUEST, CONFIG))
    out = orjson.loads(line)

    # Then the line validates as an EnrichedEvent whose serialization is exactly the line
    model = EnrichedEvent.model_validate(out)
    assert model.model_dump(mode="json") == out
    assert orjson.dumps(model.model_dump(mode="json")) == line
    # And it survives the stream: packed as JSON Lines and unpacked unchanged
    (record,) = pack_events([(model.partition_key, model.event_id, line)])
    assert list(unpack_record(record.data)) == [out]
    # And the whole client IP is never stored
    context_ip = (raw.get("context") or {}).get("ip")
    assert "ip" not in orjson.loads(out["context"])
    if truncate_ip(context_ip) is not None:
        assert out["ip_prefix"] == truncate_ip(context_ip)
        assert out["ip_prefix"] != context_ip
    # And the model of its type accepts it too
    EVENT_MODELS[raw["type"]].model_validate(raw)


def _mutations() -> st.SearchStrategy[tuple[str, Any]]:
    """A field of a Segment event set to a value that may or may not be valid."""
    fields = st.sampled_from(
        [
            "type",
            "userId",
            "anonymousId",
            "messageId",
            "event",
            "name",
            "category",
            "timestamp",
            "originalTimestamp",
            "sentAt",
            "properties",
            "context",
            "integrations",
            "traits",
            "groupId",
            "previousId",
            "writeKey",
        ]
    )
    values = (
        json_values
        | iso_times
        | identifiers
        | st.sampled_from(["", "track", "page", "group", "2026-11-25", "yesterday", "u" * 257, "-"])
        | st.just(None)
    )
    return st.tuples(fields, values)


@PROPERTY_SETTINGS
@given(valid_events(), st.lists(_mutations(), max_size=3), st.lists(st.sampled_from(["userId", "anonymousId"])))
def test_the_fast_path_and_the_models_accept_exactly_the_same_events(
    raw: dict[str, Any], mutations: list[tuple[str, Any]], removals: list[str]
) -> None:
    # Given an event, valid or made invalid by changing or removing fields
    for field, value in mutations:
        raw[field] = value
    for field in removals:
        raw.pop(field, None)
    raw = orjson.loads(orjson.dumps(raw))

    # When the fast path and the pydantic models each judge it
    try:
        enrich_event(raw, None, REQUEST, CONFIG)
        fast_accepts = True
    except ValueError:
        fast_accepts = False
    try:
        SEGMENT_EVENT_ADAPTER.validate_python(raw)
        model_accepts = True
    except ValidationError:
        model_accepts = False

    # Then they agree
    event(f"accepted={fast_accepts}")
    assert fast_accepts == model_accepts, raw


@PROPERTY_SETTINGS
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"batch": st.lists(valid_events() | json_values, max_size=6)}, optional={"sentAt": iso_times}
        ),
    ),
    st.sampled_from([BATCH, *EVENT_TYPES]),
)
def test_any_json_body_is_answered_never_crashed_on_and_loses_no_event(body: Any, route: str) -> None:
    # Given any JSON body on any route (valid events, invalid ones, and anything else JSON can say)
    raw = orjson.dumps(body)

    # When it is parsed and prepared
    try:
        parsed = parse_request(raw, route)
    except RequestError as exc:
        # Then either it is refused as a whole with a 4xx and a reason
        assert exc.status in (400, 413)
        assert exc.reason
        return
    prepared = prepare_events(
        parsed, source_id="src_prop", request_id="r", received_at_ms=REQUEST.received_at_ms, config=CONFIG
    )

    # Or every event is either on its way to the stream or rejected and quarantined, none twice, none dropped
    on_stream = [e for record in prepared.records for e in unpack_record(record.data)]
    assert len(on_stream) == prepared.accepted
    assert prepared.accepted + len(prepared.rejections) == len(parsed.events)
    assert [r.index for r in prepared.rejections] == [q.index for q in prepared.quarantined]
    assert all(r.reason for r in prepared.rejections)
