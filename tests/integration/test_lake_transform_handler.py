"""The Firehose processing Lambda's handler: the sample transformation event in, the response Firehose reads out,
every failed record logged with its reason and counted in the metric the alarm watches."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from featurepulse.domain.packing import GZIP_MAGIC, pack_events
from featurepulse.lake.transform import PROCESSING_FAILED_METRIC, TRANSFORMED_EVENTS_METRIC
from tests.integration.ingest_support import LambdaContext, load_event
from tests.lake_samples import user_events


def test_the_handler_answers_firehose_and_counts_failed_records(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from lambdas.lake_transform.handler import lambda_handler

    # Given the sample event with a gzip record of eight events and a record that is not an event
    events = user_events("u1", "a1", datetime(2026, 11, 25, 9, 1, tzinfo=UTC), 8, timedelta(minutes=1))
    (record,) = pack_events((e["user_id"], e["event_id"], orjson.dumps(e)) for e in events)
    assert record.data.startswith(GZIP_MAGIC)
    event: dict[str, Any] = load_event("firehose_kinesis_transformation.json")
    template = event["records"][0]
    event["records"] = [
        {**template, "recordId": "ok-1", "data": base64.b64encode(record.data).decode()},
        {**template, "recordId": "bad-1", "data": base64.b64encode(b"garbage").decode()},
    ]
    # When Firehose invokes the handler
    response = lambda_handler(event, LambdaContext(function_name="featurepulse-lake-transform"))
    # Then the response holds both records, in order, in Firehose's shape
    ok, bad = response["records"]
    assert ok["recordId"] == "ok-1" and ok["result"] == "Ok"
    assert ok["metadata"] == {"partitionKeys": {"dt": "2026-11-25", "hr": "09"}}
    assert [orjson.loads(line) for line in base64.b64decode(ok["data"]).splitlines()] == events
    assert bad == {"recordId": "bad-1", "result": "ProcessingFailed", "data": base64.b64encode(b"garbage").decode()}
    # And the failed record is logged with its id, and both counts are emitted as metrics
    # (read as log records: the service logger's stream is the sys.stdout of the test that first imported it)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert [(getattr(w, "record_id", None), getattr(w, "reason", None)) for w in warnings] == [
        ("bad-1", "a line is not JSON")
    ]
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    emf = next(line for line in out if "_aws" in line)
    assert emf[TRANSFORMED_EVENTS_METRIC] == [8.0] and emf[PROCESSING_FAILED_METRIC] == [1.0]
