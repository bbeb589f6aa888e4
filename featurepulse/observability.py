"""Powertools Logger, Tracer and Metrics for every featurepulse runtime.

Service name, log level and metric namespace come from the environment (set by CDK, or by the local runtime),
with the project's names as defaults so that a runtime started by hand still logs and counts sensibly.
Import these objects; never create another Logger/Tracer/Metrics.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

from featurepulse.constants import (
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_SERVICE_NAME,
    METRICS_NAMESPACE,
    SERVICE_NAME,
)

service_name: str = os.environ.get(ENV_SERVICE_NAME) or SERVICE_NAME

logger = Logger(service=service_name, level=os.environ.get(ENV_LOG_LEVEL) or "INFO")
tracer = Tracer(service=service_name)
metrics = Metrics(namespace=os.environ.get(ENV_METRICS_NAMESPACE) or METRICS_NAMESPACE, service=service_name)
