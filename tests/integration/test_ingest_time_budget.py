"""The whole request runs within the Lambda's remaining time: slow AWS dependencies get 503, never a timeout.

Slowness is injected at the AWS boundary: a botocore `before-send` hook on the real clients (moto behind them)
spends simulated time before moto answers, or spends a client's whole connect + read timeout and raises the
timeout error botocore raises, or answers PutRecords with a throttling error. Time is a simulated clock: the
Lambda context's remaining time and every wait of our code read it, so no test depends on this machine's speed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from featurepulse.dal import clients
from featurepulse.dal.sources import SourceCache, get_source_by_write_key
from featurepulse.ingest.settings import settings_from_env
from lambdas.ingest.logic import ANSWER_RESERVE_MS, IngestAnswer, IngestCall, IngestDependencies, ingest_call
from tests.integration.ingest_support import Stack, moto_stack

TIMEOUT_S = clients.CONNECT_TIMEOUT_SECONDS + clients.READ_TIMEOUT_SECONDS
ATTEMPT_MS = clients.ATTEMPT_MS
# What one call does: take this long and let moto answer, or fail the way a client times out, or be throttled.
FAST, SLOW, CONNECT_TIMEOUT, READ_TIMEOUT, THROTTLED = "fast", "slow", "connect_timeout", "read_timeout", "throttled"


class _Raw:
    """The raw HTTP body botocore reads from an answer."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _json_headers() -> HTTPHeaders:
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.1"
    return headers


@dataclass
class SlowAws:
    """Simulated time, and a plan per service ('kinesis', 's3', 'dynamodb') of what its next calls do."""

    plans: dict[str, list[str]]
    now_s: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds

    def attach(self, client: Any, service: str) -> None:
        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            self.calls[service] = self.calls.get(service, 0) + 1
            plan = self.plans.get(service) or []
            step = plan.pop(0) if plan else FAST
            if step == CONNECT_TIMEOUT:
                self.now_s += clients.CONNECT_TIMEOUT_SECONDS
                raise ConnectTimeoutError(endpoint_url=request.url)
            if step == READ_TIMEOUT:
                self.now_s += TIMEOUT_S  # a slow connect, then no answer within the read timeout
                raise ReadTimeoutError(endpoint_url=request.url)
            self.now_s += 0.01 if step == FAST else TIMEOUT_S - 0.1
            if step == THROTTLED:
                body = orjson.dumps({"__type": "ProvisionedThroughputExceededException", "message": "Rate exceeded"})
                return AWSResponse(request.url, 400, _json_headers(), _Raw(body))
            return None  # moto answers

        client.meta.events.register_first(f"before-send.{service}", before_send)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with moto_stack(monkeypatch) as created:
        yield created


def dependencies(aws: SlowAws) -> IngestDependencies:
    """The handler's dependencies (settings, the write-key cache over the sources table, the real clients)."""
    settings = settings_from_env()
    kinesis, s3, dynamodb = clients.kinesis_client(), clients.s3_client(), clients.dynamodb_client()
    for client, service in ((kinesis, "kinesis"), (s3, "s3"), (dynamodb, "dynamodb")):
        aws.attach(client, service)
    sources = SourceCache(
        lambda key: get_source_by_write_key(dynamodb, settings.sources_table_name, key),
        ttl_seconds=settings.sources_cache_ttl_seconds,
    )
    return IngestDependencies(settings=settings, sources=sources, kinesis=kinesis, s3=s3, sleep=aws.sleep)


def send(stack: Stack, aws: SlowAws, body: dict[str, Any], *, lambda_remaining_ms: int) -> IngestAnswer:
    """One /v1/batch request with the write key in the body; the Lambda had `lambda_remaining_ms` when it began."""
    started = aws.now_s
    call = IngestCall(
        route="batch",
        body=orjson.dumps({**body, "writeKey": stack.write_key}).decode(),
        is_base64=False,
        authorization=None,
        request_id="req-1",
        received_at_ms=1_796_000_000_000,
        time_budget_ms=3000,
        remaining_ms=lambda: int(lambda_remaining_ms - (aws.now_s - started) * 1000),
    )
    return ingest_call(call, dependencies(aws))


def batch(valid: int, invalid: int) -> dict[str, Any]:
    events: list[dict[str, Any]] = [
        {"type": "track", "event": "Report Exported", "userId": f"u{i}", "messageId": f"m-{i}"} for i in range(valid)
    ]
    events += [{"type": "track", "event": "no identity", "messageId": f"bad-{i}"} for i in range(invalid)]
    return {"batch": events}


def test_slow_dependencies_that_leave_no_time_for_the_stream_get_503_before_the_timeout(stack: Stack) -> None:
    # Given a Lambda with 6 s left, a sources table and a quarantine bucket that each answer just within their
    # timeouts, and a stream that throttles (slow dependencies once ran a request 11.1 s against a 10 s timeout,
    # after writing records)
    aws = SlowAws({"dynamodb": [SLOW], "s3": [SLOW], "kinesis": [THROTTLED] * 10})

    # When a batch with valid and invalid events is sent
    answer = send(stack, aws, batch(valid=5, invalid=1), lambda_remaining_ms=6_000)

    # Then it is answered 503 + Retry-After, inside the budget, with nothing acknowledged
    assert answer.status == 503
    assert "Retry-After" in answer.headers
    assert answer.accepted == 0
    assert aws.now_s * 1000 <= 6_000 - ANSWER_RESERVE_MS
    # And the one PutRecords call that fitted was not retried: another might not have ended in time
    assert aws.calls["kinesis"] == 1


def test_a_key_lookup_that_would_not_end_in_time_is_not_started(stack: Stack) -> None:
    # Given a Lambda with 1 ms less left than one sources-table call may take plus the answer's reserve
    aws = SlowAws({})

    # When a request with an uncached write key arrives
    answer = send(stack, aws, batch(valid=1, invalid=0), lambda_remaining_ms=ANSWER_RESERVE_MS + ATTEMPT_MS - 1)

    # Then it gets 503 + Retry-After at once, and no call to AWS was made
    assert (answer.status, answer.code) == (503, "time_budget_exhausted")
    assert answer.headers["Retry-After"]
    assert aws.calls == {}


def test_a_timed_out_lookup_is_retried_only_when_another_attempt_fits(stack: Stack) -> None:
    # Given a sources table whose first call times out, and enough time for a second attempt and the rest
    aws = SlowAws({"dynamodb": [READ_TIMEOUT]})

    # When a request arrives with 10 s left
    answer = send(stack, aws, batch(valid=2, invalid=0), lambda_remaining_ms=10_000)

    # Then the second lookup answered, and the events are on the stream
    assert answer.status == 200
    assert aws.calls["dynamodb"] == 2
    assert len(stack.stream_events()) == 2


SCENARIO_STEPS = [FAST, FAST, FAST, SLOW, CONNECT_TIMEOUT, READ_TIMEOUT, THROTTLED]


@pytest.mark.parametrize("seed", range(40))
def test_any_mix_of_slow_dependencies_stays_inside_the_budget_and_acknowledges_only_what_is_stored(
    stack: Stack, seed: int
) -> None:
    # Given dependencies whose calls are fast, slow, time out or are throttled, in a seeded random mix, and a
    # Lambda with between 3 and 10 s left
    rng = random.Random(seed)
    aws = SlowAws({service: rng.choices(SCENARIO_STEPS, k=8) for service in ("kinesis", "s3", "dynamodb")})
    remaining_ms = rng.choice([3_000, 4_000, 6_000, 10_000])
    valid, invalid = rng.randint(1, 20), rng.randint(0, 3)

    # When a batch is sent
    answer = send(stack, aws, batch(valid=valid, invalid=invalid), lambda_remaining_ms=remaining_ms)

    # Then the answer comes before the budget ends (the Lambda's time less the answer's reserve)
    assert aws.now_s * 1000 <= remaining_ms - ANSWER_RESERVE_MS
    # And it is a 200 only when every valid event is on the stream and every invalid one in the quarantine,
    # else a 503 with Retry-After
    assert answer.status in (200, 503), answer.body
    if answer.status == 200:
        stored_ids = {event["event_id"] for event in stack.stream_events()}
        assert {f"m-{i}" for i in range(valid)} <= stored_ids
        assert answer.accepted == valid
        assert len(stack.quarantine_rows()) == invalid
    else:
        assert answer.headers["Retry-After"]
        assert answer.accepted == 0


def test_fast_dependencies_fit_the_shortest_lambda_timeout(stack: Stack) -> None:
    # Given the shortest Lambda timeout the stack allows (3 s) and dependencies answering as usual
    aws = SlowAws({})

    # When a batch with valid and invalid events arrives with an uncached write key
    answer = send(stack, aws, batch(valid=3, invalid=1), lambda_remaining_ms=3_000)

    # Then the lookup, the quarantine write and the put all fit: 200, everything stored
    assert answer.status == 200, answer.body
    assert len(stack.stream_events()) == 3
    assert len(stack.quarantine_rows()) == 1
