"""The traffic sender over real loopback HTTP, against a stand-in handler behind the local endpoint."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from featurepulse.local.endpoint import LocalApiEndpoint
from featurepulse.local.traffic import SegmentHttpSender, run_traffic


class SegmentLikeHandler:
    """Accepts batches, lists events without identity as rejected; answers 503 to the first request."""

    def __init__(self, fail_first: int = 0) -> None:
        self.events: list[dict] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, event, context):
        with self.lock:
            self.events.append(event)
            if self.fail_first > 0:
                self.fail_first -= 1
                return {"statusCode": 503, "headers": {"Retry-After": "0"}, "body": "{}"}
        body = json.loads(event["body"])
        messages = body["batch"] if event["path"] == "/v1/batch" else [body]
        rejected = [
            {"index": i, "reason": "missing id"}
            for i, m in enumerate(messages)
            if not (m.get("userId") or m.get("anonymousId"))
        ]
        return {"statusCode": 200, "body": json.dumps({"success": True, "rejected": rejected})}


@pytest.fixture
def served():
    handler = SegmentLikeHandler()
    endpoint = LocalApiEndpoint(handler)
    endpoint.start()
    try:
        yield endpoint, handler
    finally:
        endpoint.stop()


def test_the_sender_authenticates_with_the_write_key_as_basic_user_name(served):
    endpoint, handler = served
    sender = SegmentHttpSender(endpoint.url, "wk_123")
    status, _ = sender.post("/v1/track", {"type": "track", "event": "x", "userId": "u"})
    sender.close()
    assert status == 200
    auth = handler.events[0]["headers"]["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")) == b"wk_123:"


def test_the_sender_retries_a_503_and_delivers():
    # Given a handler that is unavailable for its first request
    handler = SegmentLikeHandler(fail_first=1)
    with LocalApiEndpoint(handler) as endpoint:
        sender = SegmentHttpSender(endpoint.url, "k")
        # When the sender posts
        status, _ = sender.post("/v1/track", {"type": "track", "event": "x", "userId": "u"})
        sender.close()
    # Then it retried and the second attempt was accepted
    assert status == 200
    assert len(handler.events) == 2


def test_run_traffic_sends_for_its_duration_and_accounts_for_every_event(served):
    # Given the endpoint and a short, fast run
    endpoint, handler = served
    ticks = []
    # When traffic runs for about one second at 60 events/s
    stats = run_traffic(
        endpoint.url, "k", rate_eps=60, duration_s=1.0, seed=3, tick_s=0.25, on_tick=lambda s, t: ticks.append(t)
    )
    # Then every request reached the handler and every valid event was accepted
    assert stats.requests == len(handler.events)
    assert stats.statuses[200] == stats.requests
    assert stats.sent_valid == 60
    assert len(stats.accepted_ids) == stats.sent_valid
    assert stats.undelivered_valid == 0
    assert stats.rejected_by_server == sum(stats.sent_invalid.values())
    assert ticks


def test_run_traffic_stops_when_asked(served):
    endpoint, _ = served
    stop = threading.Event()
    stop.set()
    stats = run_traffic(endpoint.url, "k", rate_eps=50, duration_s=None, stop=stop)
    assert stats.requests == 0


def test_a_bounded_run_that_cannot_keep_up_sends_fewer_events_instead_of_running_late():
    # Given an endpoint that takes 200 ms per request: 2000 events/s for 1 s (at least 20 batches) would take 4 s
    class SlowHandler(SegmentLikeHandler):
        def __call__(self, event, context):
            time.sleep(0.2)
            return super().__call__(event, context)

    with LocalApiEndpoint(SlowHandler()) as endpoint:
        # When traffic runs for one second
        stats = run_traffic(endpoint.url, "k", rate_eps=2000, duration_s=1.0, seed=4, tick_s=0.5)
    # Then it sent fewer than rate x duration events (how many depends on the machine's load, even none when
    # generating the first tick outlasts the run), and every event it did send is accounted for
    assert stats.sent_valid < 2000
    assert len(stats.accepted_ids) == stats.sent_valid
    assert stats.requests == sum(stats.statuses.values())


def test_a_request_sent_later_than_planned_carries_the_sent_at_of_its_sending():
    # Given a batch request planned with sentAt 12:00:00.000
    from datetime import timedelta

    from featurepulse.local.traffic import OutgoingRequest, restamp_sent_at

    request = OutgoingRequest(
        route="/v1/batch", payload={"batch": [], "sentAt": "2026-12-04T12:00:00.000Z"}, messages=()
    )
    # When it goes out 750 ms after it was planned
    restamp_sent_at(request, timedelta(milliseconds=750))
    # Then its sentAt says when it was sent, as an SDK's would (the server's skew correction relies on it)
    assert request.payload["sentAt"] == "2026-12-04T12:00:00.750Z"
