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


# --- under Lambda's JSON log format (cdk/lambda_logging.py) -------------------------------------------------------
def test_the_logger_follows_lambdas_application_log_level_before_log_level() -> None:
    # Given Lambda's JSON log format, which passes the function's application log level as AWS_LAMBDA_LOG_LEVEL
    # When the module is imported with both that and our logLevel / Then Lambda's level decides (as
    # cdk/lambda_logging.py and docs/deploy.md say: logLevel=WARNING logs INFO, DEBUG reaches CloudWatch)
    _, _, level, _, _ = probe({"AWS_LAMBDA_LOG_LEVEL": "INFO", constants.ENV_LOG_LEVEL: "WARNING"})
    assert level == 20
    _, _, level, _, _ = probe({"AWS_LAMBDA_LOG_LEVEL": "DEBUG", constants.ENV_LOG_LEVEL: "DEBUG"})
    assert level == 10


def test_log_lines_carry_a_level_and_metrics_documents_do_not() -> None:
    # Given one Powertools log line and one EMF metrics document, as the ingest Lambda prints them
    probe_lines = (
        "import json; from featurepulse.observability import logger, metrics; "
        "logger.warning('w'); metrics.add_metric(name='AcceptedEvents', unit='Count', value=1); "
        "print(json.dumps(metrics.serialize_metric_set()))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    clean["POWERTOOLS_TRACE_DISABLED"] = "true"
    out = subprocess.run([sys.executable, "-c", probe_lines], env=clean, capture_output=True, check=True)
    log_line, emf = (json.loads(line) for line in out.stdout.decode().strip().splitlines()[-2:])
    # Then the log line has a "level" (Python's WARNING; Lambda files a level it does not know as INFO, which the
    # INFO ceiling lets through too); the metrics document has none, so Lambda files it under INFO and an application
    # log level above INFO would drop every metric (hence the INFO ceiling)
    assert log_line["level"] == "WARNING"
    assert "level" not in emf
    assert emf["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "AcceptedEvents", "Unit": "Count"}]
