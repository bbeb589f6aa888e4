"""Names shared by `cdk/`, the runtimes and `tests/`: env vars and stack outputs."""

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
ENV_STAGE_MAP = "FEATUREPULSE_STAGE_MAP"  # same name as featurepulse.domain.stages.STAGE_MAP_ENV
# Optional ingest knobs (defaults in featurepulse/ingest/settings.py; docs/api.md explains each).
ENV_QUARANTINE_KMS_KEY_ARN = "QUARANTINE_KMS_KEY_ARN"  # SSE-KMS key of quarantine objects (else bucket default)
ENV_SOURCES_CACHE_TTL_SECONDS = "SOURCES_CACHE_TTL_SECONDS"  # write-key cache; revocation applies within it
ENV_MAX_FUTURE_SECONDS = "INGEST_MAX_FUTURE_SECONDS"  # corrected timestamps further ahead are quarantined
ENV_RETRY_AFTER_SECONDS = "INGEST_RETRY_AFTER_SECONDS"  # Retry-After of 503 answers

# Environment of the erasure Lambda (cdk/erasure.py).
ENV_LAKE_BUCKET = "LAKE_BUCKET_NAME"

# Sources table (DynamoDB): partition key = sha256 hex of the write key (write keys are never stored).
SOURCES_TABLE_PARTITION_KEY = "pk"

# Stack outputs.
OUTPUT_API_URL = "IngestApiUrl"
OUTPUT_STREAM_NAME = "EventStreamName"
OUTPUT_SOURCES_TABLE = "SourcesTableName"
OUTPUT_LAKE_BUCKET = "LakeBucketName"
OUTPUT_AGGREGATES_TABLE = "AggregatesTableName"
OUTPUT_FLINK_APPLICATION = "FlinkApplicationName"
OUTPUT_QUICKSIGHT_DASHBOARD = "QuickSightDashboardId"
OUTPUT_ALARM_TOPIC_ARN = "AlarmTopicArn"
OUTPUT_DASHBOARD_NAME = "DashboardName"
# Lake outputs (cdk/lake.py, cdk/erasure.py): what analysts, the report job and `featurepulse erase` need.
OUTPUT_GLUE_DATABASE = "GlueDatabaseName"
OUTPUT_EVENTS_TABLE = "EventsTableName"
OUTPUT_ATHENA_WORKGROUP = "AthenaWorkGroupName"
OUTPUT_ATHENA_RESULTS_BUCKET = "AthenaResultsBucketName"
OUTPUT_DELIVERY_STREAM = "LakeDeliveryStreamName"
OUTPUT_ERASURE_QUEUE_URL = "ErasureQueueUrl"

# Storage layout (docs/design.md section 4).
LAKE_EVENTS_PREFIX = "events/"
QUARANTINE_PREFIX = "quarantine/"
