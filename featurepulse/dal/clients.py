"""boto3 clients of the ingest runtime, created once per process, honouring `AWS_ENDPOINT_URL` (moto locally).

Every client makes one attempt per call with short timeouts: the callers own the retries and spend them from the
request's time budget (`featurepulse.dal.budget`). The SDK's own retries would spend that budget invisibly, and
their wait is unbounded in practice (a throttled answer's `x-amz-retry-after` adds up to 5 s). The worst case of
one attempt, connect plus read timeout, is what the budget must still hold before a call starts
(`KINESIS_ATTEMPT_MS`, `S3_ATTEMPT_MS`, `DYNAMODB_ATTEMPT_MS`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_s3 import S3Client

# Short: each of these calls usually answers in tens of milliseconds, and the whole request (write-key lookup,
# quarantine write, PutRecords) must fit in the Lambda's timeout, which may be as short as 3 s
# (cdk/settings.py). The read timeout bounds each socket read or write, not a whole upload.
CONNECT_TIMEOUT_SECONDS = 0.5
READ_TIMEOUT_SECONDS = 1.0
_KINESIS_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
)
_DEFAULT_CONFIG = _KINESIS_CONFIG
# The longest one attempt waits before it fails: connect plus read timeout.
ATTEMPT_MS = int((CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) * 1000)
KINESIS_ATTEMPT_MS = ATTEMPT_MS
S3_ATTEMPT_MS = ATTEMPT_MS
DYNAMODB_ATTEMPT_MS = ATTEMPT_MS


def _endpoint_url() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or None


@lru_cache(maxsize=1)
def kinesis_client() -> KinesisClient:
    return boto3.client("kinesis", endpoint_url=_endpoint_url(), config=_KINESIS_CONFIG)


@lru_cache(maxsize=1)
def s3_client() -> S3Client:
    return boto3.client("s3", endpoint_url=_endpoint_url(), config=_DEFAULT_CONFIG)


@lru_cache(maxsize=1)
def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", endpoint_url=_endpoint_url(), config=_DEFAULT_CONFIG)


def reset_clients() -> None:
    """Forget the clients (tests that switch endpoints or mocks between cases)."""
    kinesis_client.cache_clear()
    s3_client.cache_clear()
    dynamodb_client.cache_clear()
