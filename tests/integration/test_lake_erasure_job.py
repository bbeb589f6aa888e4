"""The deployed erasure path: SQS FIFO batch -> erasure Lambda handler -> moto S3 lake, and the CLI that queues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from featurepulse.cli import main
from featurepulse.constants import ENV_LAKE_BUCKET
from featurepulse.lake.erasure import digest
from featurepulse.lake.layout import AUDIT_ERASURE_PREFIX, EVENTS_PREFIX
from featurepulse.lake.parquet import parquet_to_table
from featurepulse.lake.store import S3Store
from featurepulse.lake.writer import LakeWriter
from tests.lake_samples import user_events

BUCKET = "lake-bucket"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@dataclass
class FakeLambdaContext:
    function_name: str = "erasure"
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:erasure"
    aws_request_id: str = "req-1"


@pytest.fixture
def lake(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Store]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        store = S3Store(s3, BUCKET)
        writer = LakeWriter([store])
        for user in ("u-alice", "u-bob", "u-carol"):
            writer.add_rows(user_events(user, f"a-{user}", T0, 12, timedelta(hours=1)))
        writer.flush()
        monkeypatch.setenv(ENV_LAKE_BUCKET, BUCKET)
        from lambdas.erasure import handler

        handler.settings.cache_clear()
        yield store


def sqs_event(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"SenderId": "AROAEXAMPLE:dpo", "MessageGroupId": "erasure"},
            }
            for i, body in enumerate(bodies)
        ]
    }


def users_in(store: S3Store) -> set[str]:
    return {r["user_id"] for k in store.list_keys(EVENTS_PREFIX) for r in parquet_to_table(store.get(k)).to_pylist()}


def test_a_batch_of_requests_is_erased_in_one_pass_and_audited_with_every_requester(lake: S3Store) -> None:
    from lambdas.erasure.handler import lambda_handler

    # Given two queued requests
    event = sqs_event(
        {"user_ids": ["u-alice"], "requested_by": "dpo@example.com"},
        {"user_ids": ["u-carol"], "requested_by": "support@example.com"},
    )
    # When the erasure Lambda handles the batch
    response = lambda_handler(event, FakeLambdaContext())
    # Then both users are gone, no item failed, and one audit entry names both requests and their senders
    assert response == {"batchItemFailures": []}
    assert users_in(lake) == {"u-bob"}
    (key,) = list(lake.list_keys(AUDIT_ERASURE_PREFIX))
    entry = json.loads(lake.get(key))
    assert entry["user_id_sha256"] == sorted([digest("u-alice"), digest("u-carol")])
    assert "dpo@example.com (queued by AROAEXAMPLE:dpo, message m-0)" in entry["requested_by"]
    assert "support@example.com" in entry["requested_by"]


def test_a_malformed_request_fails_alone_and_the_valid_ones_are_erased(lake: S3Store) -> None:
    from lambdas.erasure.handler import lambda_handler

    # Given a valid request, one that is not JSON and one without any id
    event = sqs_event({"user_ids": ["u-alice"]}, "not json", {"user_ids": []})
    # When handled
    response = lambda_handler(event, FakeLambdaContext())
    # Then only the two bad messages are reported failed (SQS retries them, then dead-letters them)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
    assert users_in(lake) == {"u-bob", "u-carol"}


def test_a_redelivered_batch_changes_nothing_more(lake: S3Store) -> None:
    from lambdas.erasure.handler import lambda_handler

    # Given a batch handled once (and delivered again, as SQS does after a timeout)
    event = sqs_event({"user_ids": ["u-alice"]})
    lambda_handler(event, FakeLambdaContext())
    before = {k: lake.get(k) for k in lake.list_keys(EVENTS_PREFIX)}
    # When handled again / Then the lake is unchanged and the second audit entry says zero rows
    lambda_handler(event, FakeLambdaContext())
    assert {k: lake.get(k) for k in lake.list_keys(EVENTS_PREFIX)} == before
    rows = sorted(json.loads(lake.get(k))["rows_removed"] for k in lake.list_keys(AUDIT_ERASURE_PREFIX))
    assert rows[0] == 0 and rows[1] == 12


def test_the_cli_queues_a_request_the_job_understands(lake: S3Store, capsys: pytest.CaptureFixture[str]) -> None:
    from lambdas.erasure.handler import lambda_handler

    # Given the deployed erasure queue (FIFO, content-based dedup)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(
        QueueName="erasure.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    # When an operator queues an erasure with the CLI
    code = main(["erase", "--user-id", "u-bob", "--queue-url", url, "--requested-by", "dpo@example.com"])
    # Then the message is on the queue and the job erases bob when it receives it
    assert code == 0 and "queued" in capsys.readouterr().out
    (message,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    event = {
        "Records": [{"messageId": message["MessageId"], "body": message["Body"], "attributes": message["Attributes"]}]
    }
    assert lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert users_in(lake) == {"u-alice", "u-carol"}
