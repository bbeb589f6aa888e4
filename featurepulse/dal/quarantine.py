"""Write a request's invalid events to the quarantine on S3, before the API answers.

One object per request (layout in `featurepulse.domain.quarantine`), JSON Lines of `QuarantinedEvent`,
encrypted with SSE-KMS: with the key named by `QUARANTINE_KMS_KEY_ARN` when set, else with the bucket's
default encryption (the stack gives the bucket a KMS key). A failed write raises `QuarantineWriteError`; the
API then answers 503, so an invalid event is never dropped in silence (the client sends the request again).
The write spends the request's time budget (`featurepulse.dal.budget`): it starts, and is retried once, only
when an attempt still fits (`BudgetExhaustedError` otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from featurepulse.dal.budget import BudgetExhaustedError, TimeBudget, call_within_budget
from featurepulse.dal.clients import S3_ATTEMPT_MS
from featurepulse.domain.quarantine import QuarantinedEvent, quarantine_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class QuarantineWriteError(Exception):
    """The quarantine object could not be written."""


def quarantine_body(events: Sequence[QuarantinedEvent]) -> bytes:
    return b"".join(orjson.dumps(event.model_dump(mode="json")) + b"\n" for event in events)


def write_quarantine(
    client: S3Client,
    *,
    bucket: str,
    prefix: str,
    request_id: str,
    received_at: datetime,
    events: Sequence[QuarantinedEvent],
    kms_key_arn: str | None = None,
    budget: TimeBudget | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Store `events` as one object and return its key (BudgetExhaustedError: no attempt fits in `budget`)."""
    key = quarantine_key(prefix, received_at, request_id)
    # Without a key id, "aws:kms" would mean the AWS-managed aws/s3 key, not the bucket's key: leave it to the
    # bucket's default encryption then.
    encryption: dict[str, Any] = {}
    if kms_key_arn:
        encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn}
    body = quarantine_body(events)
    try:
        call_within_budget(
            lambda: client.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson", **encryption
            ),
            budget=budget or TimeBudget.unbounded(),
            attempt_ms=S3_ATTEMPT_MS,
            sleep=sleep,
        )
    except BudgetExhaustedError:
        raise
    except (ClientError, BotoCoreError) as exc:
        raise QuarantineWriteError(f"cannot write s3://{bucket}/{key}: {exc}") from exc
    return key
