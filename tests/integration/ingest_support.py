"""Helpers of the ingest integration tests: a moto stack with the handler's env, proxy events, read-backs."""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from featurepulse import constants
from featurepulse.domain.packing import unpack_record
from featurepulse.sources import create_source

EVENTS = Path(__file__).parent.parent / "events"
STREAM = "featurepulse-test-events"
TABLE = "featurepulse-test-sources"
BUCKET = "featurepulse-test-lake"
REGION = "us-east-1"


@dataclass
class LambdaContext:
    """The Lambda context attributes Powertools and the handler read."""

    function_name: str = "featurepulse-ingest"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:featurepulse-ingest"
    aws_request_id: str = "6f1d1c0e-0000-4000-8000-000000000001"
    remaining_ms: int = 10_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class Stack:
    """The moto resources the handler uses, and a write key of an active source."""

    write_key: str
    source_id: str
    kinesis: Any = field(repr=False)
    s3: Any = field(repr=False)
    dynamodb: Any = field(repr=False)

    def stream_events(self) -> list[dict[str, Any]]:
        """Every enriched event on the stream, in shard order."""
        events: list[dict[str, Any]] = []
        for shard in self.kinesis.list_shards(StreamName=STREAM)["Shards"]:
            iterator = self.kinesis.get_shard_iterator(
                StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records = self.kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
            for record in records:
                events.extend(unpack_record(record["Data"]))
        return events

    def quarantine_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=constants.QUARANTINE_PREFIX)
        for item in listing.get("Contents", []):
            body = self.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            rows.extend(orjson.loads(line) for line in body.splitlines() if line.strip())
        return rows

    def quarantine_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=constants.QUARANTINE_PREFIX)
        return [item["Key"] for item in listing.get("Contents", [])]


def reset_ingest_caches() -> None:
    """Forget everything the handler keeps per process (settings, clients, write-key cache)."""
    from lambdas.ingest.handler import reset_process_state

    reset_process_state()


@contextmanager
def moto_stack(monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[Stack]:
    """A moto stream, sources table and lake bucket, the handler's env set, and one active source."""
    with mock_aws():
        monkeypatch.setenv(constants.ENV_STREAM_NAME, STREAM)
        monkeypatch.setenv(constants.ENV_SOURCES_TABLE, TABLE)
        monkeypatch.setenv(constants.ENV_QUARANTINE_BUCKET, BUCKET)
        monkeypatch.setenv(constants.ENV_QUARANTINE_PREFIX, constants.QUARANTINE_PREFIX)
        monkeypatch.setenv(constants.ENV_PUT_TIME_BUDGET_MS, "2000")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        kinesis = boto3.client("kinesis", region_name=REGION)
        kinesis.create_stream(StreamName=STREAM, ShardCount=2)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": constants.SOURCES_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": constants.SOURCES_TABLE_PARTITION_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        source = create_source(TABLE, "test app", dynamodb_client=dynamodb)
        reset_ingest_caches()
        try:
            yield Stack(
                write_key=source.write_key, source_id=source.source_id, kinesis=kinesis, s3=s3, dynamodb=dynamodb
            )
        finally:
            reset_ingest_caches()


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def proxy_event(
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    method: str = "POST",
    write_key: str | None = None,
    headers: dict[str, str] | None = None,
    is_base64: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST proxy event (the sample in tests/events) for one request."""
    event = copy.deepcopy(load_event("apigw_rest_proxy_event.json"))
    event["path"] = path
    event["httpMethod"] = method
    event["requestContext"]["httpMethod"] = method
    event["requestContext"]["path"] = f"/prod{path}"
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    if write_key is not None:
        event["headers"]["Authorization"] = basic_auth(write_key)
    event["headers"].update(headers or {})
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    event["isBase64Encoded"] = is_base64
    return event


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Call the Lambda handler; return status, headers (case kept) and the JSON body."""
    from lambdas.ingest.handler import lambda_handler

    response = lambda_handler(event, LambdaContext())
    headers = dict(response.get("headers") or {})
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(name, values[-1])
    body = response.get("body") or ""
    return response["statusCode"], headers, (json.loads(body) if body else {})


class LogRecords(logging.Handler):
    """Every log record of the service, as text with its extra fields (to look for what must never be logged)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage() + " " + repr(record.__dict__))


@contextmanager
def service_logs() -> Iterator[LogRecords]:
    """The service logger's records while the block runs."""
    from featurepulse.observability import logger as service_logger

    handler = LogRecords()
    std_logger = logging.getLogger(service_logger.name)
    std_logger.addHandler(handler)
    try:
        yield handler
    finally:
        std_logger.removeHandler(handler)


class StoredSince:
    """What the handler stored since the last look: new stream records (per shard, after the last sequence number
    read) and new quarantine objects."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.after: dict[str, str] = {}
        self.quarantine_keys: set[str] = set()
        self.shards = [shard["ShardId"] for shard in stack.kinesis.list_shards(StreamName=STREAM)["Shards"]]

    def new_records(self) -> list[bytes]:
        """The data of the records put since the last call, shard by shard."""
        kinesis, data = self.stack.kinesis, list[bytes]()
        for shard_id in self.shards:
            position: dict[str, str] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": self.after[shard_id]}
                if shard_id in self.after
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard_id, **position)["ShardIterator"]
            records = kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
            if records:
                self.after[shard_id] = records[-1]["SequenceNumber"]
            data.extend(record["Data"] for record in records)
        return data

    def new_lines(self) -> list[bytes]:
        """The stored events put since the last call, one JSON line each (records read as every consumer does)."""
        return [orjson.dumps(event) for data in self.new_records() for event in unpack_record(data)]

    def new_quarantine_objects(self) -> list[bytes]:
        s3 = self.stack.s3
        listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=constants.QUARANTINE_PREFIX)
        keys = [item["Key"] for item in listing.get("Contents", []) if item["Key"] not in self.quarantine_keys]
        self.quarantine_keys.update(keys)
        return [s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys]
