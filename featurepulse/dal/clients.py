"""boto3 clients of the ingest runtime, created once per process, honouring `AWS_ENDPOINT_URL` (moto locally).

The Kinesis client makes one attempt per call: `put_events_to_stream` owns the retries and their time budget,
and the SDK's own retries would spend that budget invisibly.
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

_KINESIS_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=2)
# S3 (quarantine) and DynamoDB (write keys): one SDK retry, short timeouts, so that even a slow answer leaves the
# handler time to answer 503 within its Lambda timeout (10 s by default) instead of timing out.
_DEFAULT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=1, read_timeout=2)


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
