"""Failure paths that could lose data: stream throttling, quarantine and sources-table outages (moto).

Kinesis throttling is simulated at the AWS boundary: a wrapper around the moto Kinesis client refuses some
records of the first PutRecords calls the way Kinesis does (`FailedRecordCount`, per-record
`ProvisionedThroughputExceededException`), or refuses whole calls, and passes the rest to moto.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from featurepulse import constants
from featurepulse.dal import clients
from featurepulse.dal.stream import THROTTLED
from tests.integration.ingest_support import (
    BUCKET,
    REGION,
    TABLE,
    Stack,
    invoke,
    load_event,
    moto_stack,
    proxy_event,
    reset_ingest_caches,
)


class ThrottlingKinesis:
    """The moto Kinesis client, except that the first PutRecords calls follow `plan`, one entry per call:
    `every_other` refuses every other record, `all` refuses every record, `whole_call` refuses the call itself.
    Calls past the plan go through."""

    def __init__(self, client: Any, plan: list[str]) -> None:
        self._client = client
        self.plan = list(plan)
        self.calls: list[list[bytes]] = []

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append([r["Data"] for r in Records])
        mode = self.plan.pop(0) if self.plan else "pass"
        if mode == "pass":
            return dict(self._client.put_records(StreamName=StreamName, Records=Records))
        if mode == "whole_call":
            raise ClientError({"Error": {"Code": THROTTLED, "Message": "Rate exceeded for stream"}}, "PutRecords")
        passing = [i for i in range(len(Records)) if mode == "every_other" and i % 2 == 0]
        results: dict[int, Any] = {}
        if passing:
            response = self._client.put_records(StreamName=StreamName, Records=[Records[i] for i in passing])
            results = dict(zip(passing, response["Records"], strict=True))
        refused = {"ErrorCode": THROTTLED, "ErrorMessage": "Rate exceeded for shard shardId-000000000000"}
        merged = [results.get(i, refused) for i in range(len(Records))]
        return {"FailedRecordCount": len(Records) - len(passing), "Records": merged}


class FailingS3:
    """The moto S3 client whose PutObject always fails (an S3 or KMS outage)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put_object(self, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "ServiceUnavailable", "Message": "Please reduce your request rate"}}, "PutObject"
        )


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with moto_stack(monkeypatch, **{constants.ENV_PUT_TIME_BUDGET_MS: "500"}) as created:
        yield created


def use_kinesis(monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
    """Give the handler this Kinesis client (the handler creates its clients through these factories)."""
    monkeypatch.setattr("lambdas.ingest.handler.kinesis_client", lambda: client)
    reset_ingest_caches()


def batch_of(count: int) -> dict[str, Any]:
    events = []
    for i in range(count):
        event = load_event("segment_track_feature_used.json")
        event["messageId"] = f"m-{i}"
        event["userId"] = f"user-{i}"  # one record per event: every other record refused
        events.append(event)
    return {"batch": events}


def test_throttled_records_are_retried_alone_until_all_are_on_the_stream(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stream that refuses every other record of the first two PutRecords calls
    kinesis = ThrottlingKinesis(clients.kinesis_client(), ["every_other", "every_other"])
    use_kinesis(monkeypatch, kinesis)

    # When a batch of 8 events is posted
    status, _, answer = invoke(proxy_event("/v1/batch", body=batch_of(8), write_key=stack.write_key))

    # Then it is accepted, after 3 calls that each sent only the records still refused
    assert (status, answer["accepted"]) == (200, 8)
    assert [len(call) for call in kinesis.calls] == [8, 4, 2]
    assert set(kinesis.calls[1]) < set(kinesis.calls[0])
    assert set(kinesis.calls[2]) < set(kinesis.calls[1])
    # And each event is on the stream exactly once
    assert sorted(e["event_id"] for e in stack.stream_events()) == sorted(f"m-{i}" for i in range(8))


def test_a_call_refused_as_a_whole_is_retried(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a stream that refuses the first PutRecords call outright
    kinesis = ThrottlingKinesis(clients.kinesis_client(), ["whole_call"])
    use_kinesis(monkeypatch, kinesis)

    # When a batch is posted
    status, _, _ = invoke(proxy_event("/v1/batch", body=batch_of(3), write_key=stack.write_key))

    # Then it is accepted on the second call, each event once
    assert status == 200
    assert [len(call) for call in kinesis.calls] == [3, 3]
    assert sorted(e["event_id"] for e in stack.stream_events()) == ["m-0", "m-1", "m-2"]


def test_a_stream_still_refusing_after_the_budget_gets_503_and_the_resend_loses_nothing(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stream that takes half the records of the first call, then refuses everything for a long time
    kinesis = ThrottlingKinesis(clients.kinesis_client(), ["every_other"] + ["all"] * 1000)
    use_kinesis(monkeypatch, kinesis)
    request = proxy_event("/v1/batch", body=batch_of(6), write_key=stack.write_key)

    # When a batch is posted
    status, headers, answer = invoke(request)

    # Then the answer is 503 with Retry-After, reporting no event as accepted
    assert status == 503
    assert headers["Retry-After"] == "2"
    assert answer == {
        "success": False,
        "code": "stream_unavailable",
        "message": "the event stream is busy; send the same request again",
    }
    assert len(kinesis.calls) >= 2
    partial = {e["event_id"] for e in stack.stream_events()}
    assert partial < {f"m-{i}" for i in range(6)}

    # When the stream recovers and the client sends the same request again
    kinesis.plan.clear()
    status, _, answer = invoke(request)

    # Then it is accepted, and after dedup on event_id every event is there exactly once
    assert (status, answer["accepted"]) == (200, 6)
    on_stream = [e["event_id"] for e in stack.stream_events()]
    assert set(on_stream) == {f"m-{i}" for i in range(6)}
    duplicates = {e for e in on_stream if on_stream.count(e) > 1}
    assert duplicates == partial  # only the records that reached the stream before the 503 arrive twice


def test_a_missing_stream_gets_503_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a handler configured with a stream that does not exist
    with moto_stack(monkeypatch, **{constants.ENV_STREAM_NAME: "no-such-stream"}) as stack:
        # When an event is posted
        status, headers, answer = invoke(
            proxy_event("/v1/identify", body=load_event("segment_identify.json"), write_key=stack.write_key)
        )

        # Then the answer is 503 (the client keeps the event and retries), not a crash
        assert (status, answer["code"]) == (503, "stream_unavailable")
        assert "Retry-After" in headers


def test_a_failed_quarantine_write_gets_503_and_puts_nothing_on_the_stream(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given S3 refusing writes
    monkeypatch.setattr("lambdas.ingest.handler.s3_client", lambda: FailingS3(clients.s3_client()))
    reset_ingest_caches()

    # When a batch with valid and invalid events is posted
    status, headers, answer = invoke(
        proxy_event("/v1/batch", body=load_event("segment_batch_mixed.json"), write_key=stack.write_key)
    )

    # Then the answer is 503 with Retry-After, and no event was stored (the resend will store them all)
    assert (status, answer["code"]) == (503, "quarantine_unavailable")
    assert headers["Retry-After"] == "2"
    assert stack.stream_events() == []
    assert stack.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_a_sources_table_outage_gets_503(stack: Stack) -> None:
    # Given the sources table gone (an outage: the lookup fails)
    stack.dynamodb.delete_table(TableName=TABLE)

    # When an authenticated request arrives
    status, headers, answer = invoke(
        proxy_event("/v1/identify", body=load_event("segment_identify.json"), write_key=stack.write_key)
    )

    # Then the answer is 503 with Retry-After, not 401 (the key may be valid) and not a crash
    assert (status, answer["code"]) == (503, "sources_unavailable")
    assert "Retry-After" in headers


def test_an_unexpected_dependency_error_is_a_503_with_retry_after_and_is_logged(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a Kinesis client that answers PutRecords with something no rule expects: a botocore Stubber at the
    # AWS boundary returns a response that passes the service model but lists one result for two records
    kinesis = boto3.client("kinesis", region_name=REGION)
    stubber = Stubber(kinesis)
    refused = {"ErrorCode": "InternalFailure", "ErrorMessage": "internal failure"}
    stubber.add_response("put_records", {"FailedRecordCount": 1, "Records": [refused]})
    stubber.activate()
    use_kinesis(monkeypatch, kinesis)
    request = proxy_event("/v1/batch", body=batch_of(2), write_key=stack.write_key)

    # When a batch is posted
    status, headers, answer = invoke(request)

    # Then the answer is the documented 503 with Retry-After (not API Gateway's bare 502), asking for a resend
    assert status == 503
    assert headers["Retry-After"] == "2"
    assert answer == {
        "success": False,
        "code": "temporarily_unavailable",
        "message": "the request could not be handled; send the same request again",
    }
    # And the error is logged with the request id and the exception
    (entry,) = [r for r in caplog.records if r.getMessage() == "unexpected error; answering 503"]
    assert entry.levelname == "ERROR"
    assert entry.request_id == request["requestContext"]["requestId"]  # type: ignore[attr-defined]
    assert entry.exc_info is not None
    assert entry.exc_info[0] is ValueError
    # And nothing is on the stream, so the resend stores each event once
    assert stack.stream_events() == []
