"""The observability module takes its service name, log level and metric namespace from the environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from featurepulse import constants

REPO_ROOT = Path(__file__).resolve().parents[2]

PROBE = (
    "import json; from featurepulse.observability import logger, metrics, tracer, service_name; "
    "print(json.dumps([service_name, logger.service, logger.log_level, metrics.namespace, tracer.service]))"
)


def probe(env: dict[str, str]) -> list[object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    clean["POWERTOOLS_TRACE_DISABLED"] = "true"
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, check=True)
    result: list[object] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return result


def test_names_come_from_the_environment() -> None:
    # Given the Powertools variables set (as CDK sets them)
    env = {
        constants.ENV_SERVICE_NAME: "featurepulse-ingest",
        constants.ENV_LOG_LEVEL: "WARNING",
        constants.ENV_METRICS_NAMESPACE: "FeaturePulseProd",
    }

    # When the module is imported / Then Logger, Metrics and Tracer use them
    service, logger_service, level, namespace, tracer_service = probe(env)
    assert service == logger_service == tracer_service == "featurepulse-ingest"
    assert level == 30  # WARNING
    assert namespace == "FeaturePulseProd"


def test_the_project_names_are_the_defaults() -> None:
    # Given no Powertools variables / When the module is imported / Then the project's names apply
    service, _, level, namespace, _ = probe({})
    assert service == constants.SERVICE_NAME
    assert level == 20  # INFO
    assert namespace == constants.METRICS_NAMESPACE


# --- the ingest handler's custom metrics (each is billed monthly: only what no free metric gives) ---------------
DROPPED_DUPLICATES = {
    "ClientErrors": "API Gateway 4XXError",
    "ServerErrors": "API Gateway 5XXError",
    "RejectedEvents": "QuarantinedEvents",
    "PutRecordsCalls": "Kinesis PutRecords metrics",
    "ThrottledRecords": "Kinesis PutRecords.ThrottledRecords",
}


def _metrics_recorded_for(answer: object) -> dict[str, list[float]]:
    from featurepulse.observability import metrics
    from lambdas.ingest import handler

    metrics.clear_metrics()
    try:
        handler._record_metrics(answer)  # type: ignore[arg-type]
        return {name: list(entry["Value"]) for name, entry in metrics.metric_set.items()}
    finally:
        metrics.clear_metrics()


def test_accepted_request_counts_its_events_only() -> None:
    from featurepulse.dal.stream import PutOutcome
    from lambdas.ingest.logic import IngestAnswer

    # Given a 200 answer: 98 events on the stream in one PutRecords call, 2 quarantined
    answer = IngestAnswer(status=200, body="{}", accepted=98, rejected=2, put=PutOutcome(records=7, calls=1))
    # When the handler records its metrics
    recorded = _metrics_recorded_for(answer)
    # Then the accepted and quarantined events, and no call count (the stream's PutRecords metrics give it)
    assert recorded == {"AcceptedEvents": [98.0], "QuarantinedEvents": [2.0]}


def test_a_stream_that_refuses_records_counts_retries_and_failures_not_throttles() -> None:
    from featurepulse.dal.stream import PutOutcome
    from lambdas.ingest.logic import IngestAnswer

    # Given a 503: records throttled, retried, and 3 still refused at the end of the budget
    put = PutOutcome(records=10, calls=4, retried_records=12, throttled_records=12)
    put.failed = [object(), object(), object()]  # type: ignore[list-item]
    answer = IngestAnswer(status=503, body="{}", put=put)
    # When the handler records its metrics
    recorded = _metrics_recorded_for(answer)
    # Then retries and final failures are counted; the 5xx and the throttled records are API Gateway's and
    # Kinesis's own (free) metrics
    assert recorded == {"AcceptedEvents": [0.0], "PutRetriedRecords": [12.0], "FailedRecords": [3.0]}


def test_a_refused_request_is_logged_not_counted() -> None:
    from lambdas.ingest.logic import IngestAnswer

    # Given a 401 (unknown write key) / When recorded / Then only the (zero) accepted events: 4xx is API Gateway's
    recorded = _metrics_recorded_for(IngestAnswer(status=401, body="{}", code="unauthorized"))
    assert recorded == {"AcceptedEvents": [0.0]}


def test_the_handler_emits_only_its_declared_metrics() -> None:
    from lambdas.ingest import handler

    # Given the handler's source / When we collect every metric name it adds
    source = (REPO_ROOT / "lambdas" / "ingest" / "handler.py").read_text(encoding="utf-8")
    added = set(re.findall(r'add_metric\(name="([A-Za-z]+)"', source))
    # Then they are exactly the declared ones, none of the duplicates of free metrics
    assert added == set(handler.INGEST_METRIC_NAMES)
    assert not added & set(DROPPED_DUPLICATES)
    assert len(handler.INGEST_METRIC_NAMES) == 4
