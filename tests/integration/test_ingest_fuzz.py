"""Property-based fuzzing of the ingest handler (hypothesis): hostile requests against the real handler on moto.

Each generated request (a batch or a single-event call of Segment-shaped events, with hostile values mixed in:
extreme timestamps, deep nesting, lists where objects belong, a large batch context, IPs under keys of any case,
anywhere) goes through `lambda_handler` as API Gateway would send it. For every one:
- no 5xx: a request is answered 2xx or 4xx (a 503 would only be right for an AWS outage, and there is none);
- no valid event lost: on a 200, every event is either on the stream or listed as rejected with a reason (and the
  stream grew by exactly the accepted count); on a 4xx nothing is stored;
- nothing stored is bigger than the limits: each stored event within 32 KB, each Kinesis record within 1 MiB,
  the quarantine object within twice the request (the batch context stored at most once more) plus its rows'
  own fields;
- no whole client IP anywhere: not on the stream, not in the quarantine, not in a log record.

Bounded for `make test`: a fixed number of examples, derandomized (the same examples on every run), no deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import event as note_kind
from hypothesis import strategies as st

from featurepulse.domain.packing import MAX_PACKED_RECORD_BYTES, unpack_record
from featurepulse.ingest.deepjson import dumps_any
from featurepulse.ingest.limits import MAX_EVENT_BYTES, MAX_REQUEST_BYTES
from tests.integration.ingest_support import (
    LogRecords,
    Stack,
    StoredSince,
    invoke,
    moto_stack,
    proxy_event,
    service_logs,
)

KINESIS_MAX_RECORD_BYTES = 1024 * 1024
# Client IPs the requests carry; none of them may be stored or logged whole.
IPS = [
    "203.0.113.77",
    "198.51.100.23",
    "2001:db8:85a3:1234:5678:8a2e:370:7334",
    "2002:cb00:714d::1",  # 6to4 of 203.0.113.77
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, client 192.0.2.45
    "::ffff:198.51.100.99",
]
WHOLE_IP_TEXTS = [*IPS, "192.0.2.45", "198.51.100.99", "cb00:714d"]
IP_KEYS = ["ip", "IP", "Ip", "iP"]
# Per quarantined row: its own fields (ids, reason, times) beside the raw event.
QUARANTINE_ROW_OVERHEAD_BYTES = 2048
EXAMPLES = 100


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for level in range(levels):
        value = {"a": value} if level % 2 else [value]
    return value


TIMESTAMPS = st.sampled_from(
    [
        "2026-11-25T12:00:00Z",
        "2026-11-25T12:00:00.123+01:00",
        "2026-11-25T11:59:58.5Z",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "0999-06-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-25T12:00:00.123456789012Z",
        "+275760-09-13T00:00:00Z",
        "not a time",
        "",
        1795608001500,
        -1,
        1e308,
    ]
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=24),
)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
IDS = st.one_of(
    st.text(min_size=1, max_size=12),
    st.text(min_size=250, max_size=300),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.just(""),
    st.just(" "),
    JSON,
)
ip_pairs = st.tuples(st.sampled_from(IP_KEYS), st.sampled_from(IPS))


@st.composite
def with_ips(draw: st.DrawFn, value: Any) -> Any:
    """`value` with IPs put under ip keys at a few places (objects at any depth, or a new object in a list)."""
    if type(value) is dict:
        for key, ip in draw(st.lists(ip_pairs, max_size=2)):
            value[key] = ip
        for key in list(value)[:3]:
            value[key] = draw(with_ips(value[key]))
    elif type(value) is list:
        if draw(st.booleans()):
            key, ip = draw(ip_pairs)
            value.append({key: ip})
        for position in range(min(3, len(value))):
            value[position] = draw(with_ips(value[position]))
    return value


CONTEXTS = st.one_of(
    st.none(),
    st.builds(
        lambda pairs, locale: {**dict(pairs), "locale": locale}, st.lists(ip_pairs, max_size=3), st.text(max_size=6)
    ),
    st.lists(st.builds(lambda pair: dict([pair]), ip_pairs), min_size=1, max_size=3),  # a list where an object belongs
    JSON,
)


@st.composite
def events(draw: st.DrawFn, serial: Iterator[int]) -> Any:
    """A Segment-shaped event, valid or not; `messageId` unique unless hostile."""
    kind = draw(st.sampled_from(["good", "good", "hostile", "hostile", "not_an_object"]))
    if kind == "not_an_object":
        return draw(st.one_of(LEAVES, st.lists(st.builds(lambda p: dict([p]), ip_pairs), max_size=2)))
    event: dict[str, Any] = {
        "type": draw(st.sampled_from(["track", "page", "screen", "identify", "group", "alias"])),
        "event": draw(st.sampled_from(["Report Exported", "Feature Used", "x"])),
        "name": "Home",
        "userId": f"u{draw(st.integers(0, 5))}",
        "messageId": f"m-{next(serial)}",
        "groupId": "g1",
        "previousId": "anon-1",
        "timestamp": "2026-11-25T11:59:59.000Z",
        "properties": {"feature": "smart-reports"},
        "context": {"ip": draw(st.sampled_from(IPS)), "locale": "en-US"},
    }
    if kind == "hostile":
        for name in draw(st.lists(st.sampled_from(list(event)), max_size=4, unique=True)):
            del event[name]
        event.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "type": st.one_of(st.text(max_size=8), JSON, st.just(deep(1000))),
                        "event": st.one_of(st.text(max_size=300), JSON),
                        "userId": IDS,
                        "anonymousId": IDS,
                        "messageId": IDS,
                        "timestamp": TIMESTAMPS,
                        "sentAt": TIMESTAMPS,
                        "originalTimestamp": TIMESTAMPS,
                        "properties": st.one_of(JSON, st.just(deep(300))),
                        "traits": JSON,
                        "context": CONTEXTS,
                    },
                )
            )
        )
        event = draw(with_ips(event))
    return event


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any] | Any]:
    """A route and its JSON body: mostly batches, sometimes one event on its own route."""
    serial = iter(range(10**9))
    if draw(st.integers(0, 4)) == 0:
        event = draw(events(serial))
        route = event.get("type") if type(event) is dict else None
        return f"/v1/{route if route in ('track', 'page', 'screen', 'identify', 'group', 'alias') else 'track'}", event
    body: dict[str, Any] = {"batch": draw(st.lists(events(serial), min_size=1, max_size=25))}
    batch_context = draw(
        st.one_of(
            st.none(),
            st.builds(
                lambda key, ip: {key: ip, "app": {"version": "1.0"}}, st.sampled_from(IP_KEYS), st.sampled_from(IPS)
            ),
            # the amplification case: a large batch context merged into every event
            st.builds(lambda size: {"blob": "c" * size, "ip": IPS[0]}, st.sampled_from([8_000, 31_000, 60_000])),
            JSON,
        )
    )
    if batch_context is not None:
        body["context"] = batch_context
    if draw(st.booleans()):
        body["sentAt"] = draw(TIMESTAMPS)
    return "/v1/batch", body


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with pytest.MonkeyPatch.context() as monkeypatch, moto_stack(monkeypatch) as created:
        yield created


@pytest.fixture(scope="module")
def logs() -> Iterator[LogRecords]:
    with service_logs() as records:
        yield records


@pytest.fixture(scope="module")
def stream(stack: Stack) -> StoredSince:
    return StoredSince(stack)


def assert_no_whole_ip(text: str, where: str) -> None:
    for ip in WHOLE_IP_TEXTS:
        assert ip not in text, f"whole IP {ip} in {where}: {text[:2000]}"


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    # No shrinking: a failing request is reported as generated (shrinking one takes minutes), and the run stays
    # bounded.
    phases=(Phase.explicit, Phase.generate),
    report_multiple_bugs=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(request=requests(), source_ip=st.sampled_from(IPS))
def test_no_request_gets_a_5xx_loses_a_valid_event_stores_too_much_or_keeps_a_whole_ip(
    stack: Stack, stream: StoredSince, logs: LogRecords, request: tuple[str, Any], source_ip: str
) -> None:
    # Given a hostile request, from a client IP, within the request size limit
    path, body = request
    raw_body = dumps_any(body).decode()
    if len(raw_body.encode()) > MAX_REQUEST_BYTES:
        return
    request_id = str(uuid.uuid4())
    event = proxy_event(path, raw_body=raw_body, write_key=stack.write_key)
    event["requestContext"]["requestId"] = request_id
    event["requestContext"]["identity"]["sourceIp"] = source_ip
    stream.new_records()
    stream.new_quarantine_objects()
    logs_before = len(logs.texts)

    # When the handler answers it
    status, _, answer = invoke(event)

    # Then it is no server error
    assert status < 500, answer
    note_kind(f"status {status}" + (f", {len(answer['rejected'])} rejected" if status == 200 else f" {answer['code']}"))
    new_records = stream.new_records()
    quarantine = stream.new_quarantine_objects()
    # Records may be compressed: read as every consumer reads them
    unpacked = [[orjson.dumps(e) for e in unpack_record(data)] for data in new_records]
    stored_events = [line for lines in unpacked for line in lines]
    if status != 200:
        # And a refused request stores nothing
        assert not new_records and not quarantine, answer
    else:
        # And every event is on the stream or listed as rejected, with a reason
        sent = body["batch"] if path == "/v1/batch" else [body]
        rejected = {item["index"]: item["reason"] for item in answer["rejected"]}
        assert all(reason for reason in rejected.values())
        assert answer["accepted"] + len(rejected) == len(sent)
        assert len(stored_events) == answer["accepted"]
        stored_ids = {orjson.loads(line)["event_id"] for line in stored_events}
        for index, raw in enumerate(sent):
            message_id = raw.get("messageId") if type(raw) is dict else None
            if index not in rejected and type(message_id) is str and message_id.startswith("m-"):
                assert message_id in stored_ids
        # And the quarantine holds exactly the rejected events
        rows = [orjson.loads(line) for data in quarantine for line in data.splitlines() if line.strip()]
        assert sorted(row["index"] for row in rows) == sorted(rejected)
        # And nothing stored is over the limits
        for line in stored_events:
            assert len(line) <= MAX_EVENT_BYTES, f"stored event of {len(line)} bytes"
        for data, lines in zip(new_records, unpacked, strict=True):
            assert len(data) <= KINESIS_MAX_RECORD_BYTES
            assert sum(len(line) + 1 for line in lines) <= MAX_PACKED_RECORD_BYTES or len(lines) == 1
        quarantine_bytes = sum(len(data) for data in quarantine)
        bound = 2 * len(raw_body.encode()) + QUARANTINE_ROW_OVERHEAD_BYTES * len(rows)
        assert quarantine_bytes <= bound, f"quarantine of {quarantine_bytes} bytes for a {len(raw_body)} byte request"

    # And no whole client IP is on the stream, in the quarantine or in a log record
    for line in stored_events:
        assert_no_whole_ip(line.decode(), "the stream")
    for data in quarantine:
        assert_no_whole_ip(data.decode(), "the quarantine")
    for text in logs.texts[logs_before:]:
        assert_no_whole_ip(text, "the logs")


HOSTILE_BODIES = [
    '{"batch":[{"type":"track","event":"\ud800","userId":"u1"}]}',  # a lone surrogate in the body text
    '{"batch":[{"type":"track","event":"\\ud800","userId":"u1"}]}',  # ... as a JSON escape
    '{"batch":[{"type":"track","event":"x","userId":"u1","messageId":"ok-1"},{"type":"track","userId":"\udfff"}]}',
    '{"batch":[{"type":"track","event":"x","userId":"u1","sentAt":"9999-12-31T23:59:59-14:00"}]}',
    '{"batch":[{"type":"track","event":"x","userId":"u1","timestamp":"0001-01-01T00:00:00+14:00"}]}',
    '{"batch":[{"type":' + "[" * 1000 + "]" * 1000 + ',"userId":"u1"}]}',
    '{"batch":[{"type":"track","event":"x","userId":"u1"}],"sentAt":"0001-01-01T00:00:00+14:00"}',
    '{"batch":[{"type":"track","event":"x","userId":"u1","properties":{"n":123456789012345678901234567890}}]}',
    '{"batch":[{"type":"track","event":"x","userId":"u1","properties":{"n":1e400}}]}',
    '{"batch":[]}',
    "[]",
    "",
    "\x1f\x8b\x08\x00",
]


@pytest.mark.parametrize("raw_body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_known_hostile_bodies_get_no_5xx(stack: Stack, raw_body: str) -> None:
    # Given a body that once crashed a whole batch (surrogates, overflowing times, deep nesting) or is degenerate
    event = proxy_event("/v1/batch", raw_body=raw_body, write_key=stack.write_key)
    event["requestContext"]["requestId"] = str(uuid.uuid4())

    # When the handler answers it / Then it is no server error
    status, _, answer = invoke(event)
    assert status < 500, answer
