"""PutRecords retries: only refused records, exponential backoff with full jitter, inside the time budget.

The Kinesis client here is a test double of the AWS API (it answers like PutRecords); the clock and the sleep
are simulated, so the backoff schedule is checked exactly and the test takes no time.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from featurepulse.dal.budget import TimeBudget
from featurepulse.dal.stream import BASE_DELAY_MS, BUDGET_EXHAUSTED, MAX_DELAY_MS, THROTTLED, put_events_to_stream
from featurepulse.domain.packing import MAX_BYTES_PER_PUT, MAX_RECORDS_PER_PUT, StreamRecord


class ScriptedKinesis:
    """Answers PutRecords from a script: per call, the indexes to refuse, or an exception to raise."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.calls: list[list[str]] = []

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append([r["PartitionKey"] for r in Records])
        step = self.script.pop(0) if self.script else set()
        if isinstance(step, Exception):
            raise step
        results = [
            {"ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded"} if i in step else {"SequenceNumber": "1"}
            for i in range(len(Records))
        ]
        return {"FailedRecordCount": len(step), "Records": results}


class SimulatedTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def records(count: int, size: int = 10) -> list[StreamRecord]:
    return [StreamRecord(partition_key=f"k{i}", data=b"x" * size, event_ids=(f"e{i}",)) for i in range(count)]


def put(client: ScriptedKinesis, items: list[StreamRecord], budget_ms: int = 3000, jitter: float = 1.0) -> Any:
    time = SimulatedTime()
    outcome = put_events_to_stream(
        client,  # type: ignore[arg-type]
        "stream",
        items,
        time_budget_ms=budget_ms,
        sleep=time.sleep,
        clock=time.clock,
        jitter=lambda: jitter,
    )
    return outcome, time


def test_only_the_refused_records_are_sent_again() -> None:
    # Given a stream that refuses records 1 and 3 of the first call, then record 0 of the second
    client = ScriptedKinesis([{1, 3}, {0}])

    # When 4 records are put
    outcome, _ = put(client, records(4))

    # Then the second call carries only k1 and k3, the third only k1, and all are on the stream
    assert client.calls == [["k0", "k1", "k2", "k3"], ["k1", "k3"], ["k1"]]
    assert outcome.complete
    assert (outcome.calls, outcome.retried_records, outcome.throttled_records) == (3, 3, 3)


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    # Given a stream refusing the record 6 times, and the largest jitter draw
    client = ScriptedKinesis([{0}] * 6)

    # When a record is put with a budget long enough
    outcome, time = put(client, records(1), budget_ms=10_000, jitter=1.0)

    # Then the waits double from the base and stop growing at the cap
    expected = [min(MAX_DELAY_MS, BASE_DELAY_MS * 2**attempt) / 1000 for attempt in range(1, 7)]
    assert time.sleeps == pytest.approx(expected)
    assert outcome.complete


def test_jitter_draws_the_wait_between_zero_and_the_backoff() -> None:
    # Given a jitter draw of 0.25 / When a refused record is retried / Then the wait is a quarter of the backoff
    _, time = put(ScriptedKinesis([{0}]), records(1), jitter=0.25)
    assert time.sleeps == pytest.approx([0.25 * BASE_DELAY_MS * 2 / 1000])


def test_records_still_refused_when_the_budget_ends_are_reported_failed() -> None:
    # Given a stream that refuses record k2 in the first call and in every retry
    client = ScriptedKinesis([{2}] + [{0}] * 100)

    # When 3 records are put with a 1 s budget
    outcome, time = put(client, records(3), budget_ms=1000)

    # Then it stops before the budget ends, reporting exactly the refused record
    assert not outcome.complete
    assert [r.partition_key for r in outcome.failed] == ["k2"]
    assert sum(time.sleeps) <= 1.0
    assert outcome.last_error == THROTTLED


def test_a_throttled_or_dropped_call_is_retried_whole() -> None:
    # Given a call refused as a whole, then a dropped connection
    throttled = ClientError({"Error": {"Code": THROTTLED, "Message": "slow down"}}, "PutRecords")
    dropped = EndpointConnectionError(endpoint_url="https://kinesis.us-east-1.amazonaws.com")
    client = ScriptedKinesis([throttled, dropped])

    # When 2 records are put / Then both calls are repeated with the same records, and all succeed
    outcome, _ = put(client, records(2))
    assert client.calls == [["k0", "k1"]] * 3
    assert outcome.complete
    assert outcome.throttled_records == 2


def test_an_error_that_cannot_pass_stops_at_once() -> None:
    # Given a stream that does not exist
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no stream"}}, "PutRecords")
    client = ScriptedKinesis([missing])

    # When records are put / Then nothing is retried and every record is reported failed
    outcome, time = put(client, records(3))
    assert len(client.calls) == 1
    assert time.sleeps == []
    assert len(outcome.failed) == 3
    assert outcome.last_error == "ResourceNotFoundException"


def test_records_go_in_chunks_of_at_most_500_records_and_5_mb() -> None:
    # Given 1200 small records, and 12 records of almost 1 MB
    client = ScriptedKinesis([])
    small, large = records(1200), records(12, size=1000 * 1000)

    # When they are put
    put(client, small)
    put(client, large)

    # Then each call stays within the PutRecords limits and every record is sent once
    assert [len(c) for c in client.calls[:3]] == [MAX_RECORDS_PER_PUT, MAX_RECORDS_PER_PUT, 200]
    sizes = {r.partition_key: r.size for r in large}
    large_calls = client.calls[3:]
    assert all(sum(sizes[k] for k in call) <= MAX_BYTES_PER_PUT for call in large_calls)
    assert sorted(k for call in large_calls for k in call) == sorted(sizes)
    assert len(large_calls) == 3


def test_nothing_to_put_makes_no_call() -> None:
    # Given no records / When they are put / Then no call is made and the outcome is complete
    client = ScriptedKinesis([])
    outcome, _ = put(client, [])
    assert client.calls == []
    assert outcome.complete


def test_no_call_starts_that_might_not_end_within_the_request_budget() -> None:
    # Given a stream that refuses everything once, and a request with 3.5 s left when each call may take 3 s
    client = ScriptedKinesis([{0, 1}])
    time = SimulatedTime()
    request_left_ms = 3500.0

    def remaining_ms() -> float:
        return request_left_ms - time.now * 1000

    # When 2 records are put with a 10 s retry window, each call taking its whole 3 s
    def slow_put(**kwargs: Any) -> dict[str, Any]:
        time.now += 3.0
        return client.put_records(**kwargs)

    slow = type("SlowKinesis", (), {"put_records": staticmethod(slow_put)})()
    outcome = put_events_to_stream(
        slow,
        "stream",
        records(2),
        time_budget_ms=10_000,
        sleep=time.sleep,
        clock=time.clock,
        jitter=lambda: 0.5,
        request_budget=TimeBudget(remaining_ms),
        attempt_ms=3000,
    )

    # Then the retry is not started (0.5 s left), the records are reported failed for lack of time
    assert len(client.calls) == 1
    assert not outcome.complete
    assert outcome.last_error == BUDGET_EXHAUSTED
    assert time.now <= 3.5
