"""Names shared by `cdk/`, the runtimes and `tests/`: env vars and stack outputs (STYLE.md lesson 4)."""

SERVICE_NAME = "featurepulse"
METRICS_NAMESPACE = "FeaturePulse"

# Environment variables of the ingest Lambda (and of the local runtime, which sets the same ones).
ENV_STREAM_NAME = "STREAM_NAME"
ENV_SOURCES_TABLE = "SOURCES_TABLE_NAME"
ENV_QUARANTINE_BUCKET = "QUARANTINE_BUCKET_NAME"
ENV_QUARANTINE_PREFIX = "QUARANTINE_PREFIX"
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
ENV_PUT_TIME_BUDGET_MS = "PUT_TIME_BUDGET_MS"

# Stack outputs.
OUTPUT_API_URL = "IngestApiUrl"
OUTPUT_STREAM_NAME = "EventStreamName"
OUTPUT_SOURCES_TABLE = "SourcesTableName"
OUTPUT_LAKE_BUCKET = "LakeBucketName"
OUTPUT_AGGREGATES_TABLE = "AggregatesTableName"

# Storage layout (DESIGN.md section 4).
LAKE_EVENTS_PREFIX = "events/"
QUARANTINE_PREFIX = "quarantine/"
