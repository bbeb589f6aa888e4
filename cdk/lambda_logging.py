"""The logging configuration of our Lambdas: JSON log format, Lambda's own (system) lines at WARN.

At INFO, Lambda writes START, END and REPORT lines (~330 bytes with the X-Ray fields) for every invocation: at one
ingest request per second that is ~0.8 GB a month nobody reads (duration, memory and errors come from Lambda's free
metrics). With the JSON log format Lambda filters its system lines by level; at WARN it keeps only warnings (a
timeout, an out-of-memory, a runtime crash). docs/deploy.md, "What the defaults cost, and why they are what they are".

Application lines are filtered too, by the application log level: Powertools' log lines carry a "level" key, and its
metrics (CloudWatch embedded metric format, one JSON document per invocation) carry none, which Lambda files under
INFO. A filter above INFO would drop every metric, so the application log level is `logLevel` but never above INFO.
Lambda passes that level to the function as AWS_LAMBDA_LOG_LEVEL, which Powertools' Logger follows before its own
POWERTOOLS_LOG_LEVEL: `logLevel=DEBUG` logs DEBUG, and WARNING or ERROR log as INFO (the handlers log nothing at INFO
on the accepted path; a refused request is one INFO line).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_lambda as lambda_

# `logLevel` (Python's names, as Powertools reads them) -> Lambda's application log level, never above INFO.
APPLICATION_LOG_LEVELS: dict[str, lambda_.ApplicationLogLevel] = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.INFO,
    "ERROR": lambda_.ApplicationLogLevel.INFO,
}
SYSTEM_LOG_LEVEL = lambda_.SystemLogLevel.WARN


def lambda_logging(log_level: str = "INFO") -> dict[str, Any]:
    """Keyword arguments of `lambda_.Function` for a Lambda of ours that logs with Powertools at `log_level`."""
    try:
        application_level = APPLICATION_LOG_LEVELS[log_level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level {log_level!r} (one of {sorted(APPLICATION_LOG_LEVELS)})") from None
    return {
        "logging_format": lambda_.LoggingFormat.JSON,
        "system_log_level_v2": SYSTEM_LOG_LEVEL,
        "application_log_level_v2": application_level,
    }
