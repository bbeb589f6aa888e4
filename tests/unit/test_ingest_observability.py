"""The observability module takes its service name, log level and metric namespace from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from featurepulse import constants

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
