"""Quarantine -> fix -> replay stores exactly the event ingest stores for the same request sent valid: the event as
the client sent it, with its request's batch `sentAt` and `context` merged as ingest merges them (the quarantine
keeps them once per request), the ip prefix and the derived id ingest gave it. The real handler on moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from featurepulse import constants
from featurepulse.ingest.timestamps import from_ms
from featurepulse.lake.replay import replay_quarantine
from featurepulse.lake.replay_ingest import revalidate_with_ingest, stream_sender
from featurepulse.lake.store import S3Store
from tests.integration.ingest_support import BUCKET, STREAM, Stack, invoke, moto_stack, proxy_event, reset_ingest_caches

RECEIVED_MS = 1795608001500  # requestTimeEpoch of tests/events/apigw_rest_proxy_event.json
# The device clock runs an hour fast, and the client stamped its events two hours after sending them: after
# clock-skew correction they are one hour in the future. A 60 s future bound refuses them; the default (1 day)
# accepts them: the "fix" between quarantine and replay.
SENT_AT = "2026-11-25T13:00:00.000Z"
STAMPED = "2026-11-25T15:00:00.000Z"
BATCH_CONTEXT = {
    "ip": "203.0.113.77",
    "locale": "en-GB",
    "library": {"name": "analytics-python", "version": "2.3.0"},
    "campaign": {"name": "winter", "source": "newsletter"},
    "app": {"version": "4.2.0"},
}
EVENTS: list[dict[str, Any]] = [
    # Inherits the whole batch context and sentAt
    {
        "type": "track",
        "event": "Feature Used",
        "userId": "u-1",
        "messageId": "m-1",
        "timestamp": STAMPED,
        "properties": {"feature": "export"},
    },
    # Overrides one key of the batch context and sends its own ip; no messageId (the id is derived from content)
    {
        "type": "track",
        "event": "Feature Viewed",
        "anonymousId": "a-2",
        "timestamp": STAMPED,
        "context": {"locale": "fr-FR", "ip": "2001:db8:85a3:1234::1", "sessionId": 17},
    },
    # Its own sentAt, which wins over the batch's
    {
        "type": "page",
        "name": "Pricing",
        "userId": "u-3",
        "messageId": "m-3",
        "timestamp": STAMPED,
        "sentAt": "2026-11-25T13:30:00.000Z",
    },
]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with moto_stack(monkeypatch) as s:
        yield s


def _send(stack: Stack, monkeypatch: pytest.MonkeyPatch, path: str, body: dict[str, Any], *, future_s: int) -> Any:
    monkeypatch.setenv(constants.ENV_MAX_FUTURE_SECONDS, str(future_s))
    reset_ingest_caches()  # a new deployment with this setting (the write-key cache is refilled from the table)
    status, _, answer = invoke(proxy_event(path, body=body, write_key=stack.write_key))
    assert status == 200, answer
    return answer


def _replay(stack: Stack) -> Any:
    received = from_ms(RECEIVED_MS)
    return replay_quarantine(
        S3Store(stack.s3, BUCKET),
        since=received - timedelta(hours=1),
        revalidate=revalidate_with_ingest,
        send=stream_sender(stack.kinesis, STREAM),
        requested_by="ops@example.com",
        now=lambda: received + timedelta(days=1),
    )


def _by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["event_id"]: e for e in events}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/batch", {"batch": EVENTS, "sentAt": SENT_AT, "context": BATCH_CONTEXT}),
        ("/v1/track", {k: v for k, v in EVENTS[1].items() if k != "type"} | {"sentAt": SENT_AT}),
    ],
    ids=["batch", "single-event route"],
)
def test_a_replayed_event_is_the_event_ingest_stores_when_it_is_sent_valid(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, path: str, body: dict[str, Any]
) -> None:
    # Given a request refused under a 60 s future bound: every event quarantined
    refused = _send(stack, monkeypatch, path, body, future_s=60)
    count = len(body.get("batch", [body]))
    assert refused["accepted"] == 0 and len(refused["rejected"]) == count
    # And the same request sent again once the bound is fixed (1 day): every event stored by ingest
    accepted = _send(stack, monkeypatch, path, body, future_s=86_400)
    assert accepted["accepted"] == count
    direct = _by_id(stack.stream_events())
    assert len(direct) == count

    # When the quarantine is replayed under the fixed rules
    audit = _replay(stack)

    # Then every event is replayed, and each one on the stream is, field for field, the event ingest stored
    assert audit.still_invalid == [] and len(audit.replayed) == count
    copies: dict[str, list[dict[str, Any]]] = {}
    for event in stack.stream_events():
        copies.setdefault(event["event_id"], []).append(event)
    assert sorted(copies) == sorted(direct)
    for event_id, (first, second) in copies.items():
        assert first == second == direct[event_id]


def test_a_replayed_event_whose_batch_row_was_erased_says_so(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two quarantined events of one batch, the row carrying the batch values removed (erased with its user)
    _send(
        stack, monkeypatch, "/v1/batch", {"batch": EVENTS[:2], "sentAt": SENT_AT, "context": BATCH_CONTEXT}, future_s=60
    )
    (key,) = stack.quarantine_keys()
    lines = stack.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()
    stack.s3.put_object(Bucket=BUCKET, Key=key, Body=b"\n".join(lines[1:]) + b"\n")
    monkeypatch.setenv(constants.ENV_MAX_FUTURE_SECONDS, "86400")

    # When replayed / Then the other event is not replayed without its batch context: the reason says why
    audit = _replay(stack)
    assert audit.replayed == []
    assert [r.reason for r in audit.still_invalid] == [
        "the batch context of this event (on the quarantined event with index 0) is no longer in the quarantine"
    ]
