"""Firehose processing Lambda: packed stream records -> JSON lines of events with their partition keys.

The logic is featurepulse/lake/transform.py (the local Firehose runs the same); this handler parses the event at
the boundary, logs every record it fails, counts events and failed records, and returns the response.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from featurepulse.lake.transform import (
    PROCESSING_FAILED_METRIC,
    TRANSFORMED_EVENTS_METRIC,
    FirehoseTransformationEvent,
    transform,
)
from featurepulse.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = transform(FirehoseTransformationEvent.model_validate(event))
    for record_id, reason in result.failures:
        logger.warning(
            "record ProcessingFailed: written to the error prefix", extra={"record_id": record_id, "reason": reason}
        )
    metrics.add_metric(name=TRANSFORMED_EVENTS_METRIC, unit=MetricUnit.Count, value=result.events)
    metrics.add_metric(name=PROCESSING_FAILED_METRIC, unit=MetricUnit.Count, value=len(result.failures))
    return result.response.model_dump(exclude_none=True)
