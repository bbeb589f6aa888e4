"""Erasure Lambda: SQS FIFO batch of erasure requests -> one pass over the lake (featurepulse.lake.erasure_job)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from featurepulse.constants import ENV_LAKE_BUCKET
from featurepulse.lake.erasure_job import QueuedRequest, run_erasure_batch
from featurepulse.lake.store import S3Store
from featurepulse.observability import logger, metrics, tracer


class ErasureSettings(BaseModel):
    model_config = ConfigDict(frozen=True)
    lake_bucket: str = Field(min_length=3)


@lru_cache(maxsize=1)
def settings() -> ErasureSettings:
    return ErasureSettings(lake_bucket=os.environ.get(ENV_LAKE_BUCKET, ""))


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    queued = [
        QueuedRequest(message_id=r["messageId"], body=r["body"], sender_id=r.get("attributes", {}).get("SenderId"))
        for r in event.get("Records", [])
    ]
    outcome = run_erasure_batch(S3Store(boto3.client("s3"), settings().lake_bucket), queued)
    for message_id, reason in outcome.rejected.items():
        logger.warning("erasure request refused", extra={"message_id": message_id, "reason": reason})
    if outcome.audit is not None:
        metrics.add_metric(name="ErasedRows", unit="Count", value=outcome.audit.rows_removed)
        logger.info(
            "erasure done",
            extra={"audit_key": outcome.audit.audit_key, "rows_removed": outcome.audit.rows_removed},
        )
    return {"batchItemFailures": [{"itemIdentifier": i} for i in outcome.failed_message_ids]}
