"""The lake (docs/design.md section 4): Firehose from the event stream to partitioned Parquet, catalogued in Glue,
queried through an Athena workgroup.

- Firehose reads the Kinesis stream and hands each packed record (gzip JSON Lines of one partition key and one
  event hour, featurepulse/domain/packing.py) to the processing Lambda (lambdas/lake_transform, logic in
  featurepulse/lake/transform.py), which decompresses it and returns its events as JSON lines with their {dt, hr}
  (dynamic partitioning, partitionKeyFromLambda); a record it cannot read is ProcessingFailed and lands under
  errors/processing-failed/. Firehose then converts to Parquet with
  the Glue table's schema (OpenX JSON deserializer: it parses our `...T..:..:..mmmZ` times natively) and writes
  `events/dt=YYYY-MM-DD/hr=HH/*.parquet`. Records it cannot convert or partition go to `errors/<type>/...`.
- Glue: one database, the `events` table (columns generated from `featurepulse.domain.schema.glue_columns()`,
  partition projection on dt/hr, no crawler) and a `quarantine` table over the quarantine JSON Lines.
- Athena: a workgroup on engine v3 that enforces its configuration: results encrypted with the data key in a
  results bucket that expires them, and a per-query bytes-scanned cutoff.

Buffering (`lakeBufferIntervalSeconds`, `lakeBufferSizeMiB`) trades freshness against file size and cost:
docs/lake.md explains the choice of defaults. The lake bucket itself (KMS, TLS, versioning, access logs) is
`DataBucket`; this construct adds the lifecycle of the prefixes it owns.
"""

from __future__ import annotations

import re

from aws_cdk import Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from cdk_nag import RegexAppliesTo
from constructs import Construct

from cdk.data_bucket import encrypted_bucket
from cdk.lambda_logging import lambda_logging
from cdk.nag import suppress
from featurepulse.constants import (
    ENV_LOG_LEVEL,
    ENV_METRICS_NAMESPACE,
    ENV_SERVICE_NAME,
    METRICS_NAMESPACE,
    QUARANTINE_PREFIX,
    SERVICE_NAME,
)
from featurepulse.domain.packing import FIREHOSE_PROCESSOR_BUFFER_MB
from featurepulse.domain.quarantine import QuarantinedEvent
from featurepulse.domain.schema import PARTITION_COLUMNS, ColumnType, glue_columns, lake_columns
from featurepulse.lake.layout import (
    ERRORS_PREFIX,
    EVENTS_PREFIX,
    FIREHOSE_ERRORS_PREFIX,
    FIREHOSE_EVENTS_PREFIX,
    PARQUET_SUFFIX,
)
from featurepulse.lake.parquet import PARQUET_COMPRESSION

# The prefixes Firehose writes (FIREHOSE_EVENTS_PREFIX and FIREHOSE_ERRORS_PREFIX start with them).
FIREHOSE_PREFIXES = (EVENTS_PREFIX, ERRORS_PREFIX)
assert FIREHOSE_EVENTS_PREFIX.startswith(EVENTS_PREFIX) and FIREHOSE_ERRORS_PREFIX.startswith(ERRORS_PREFIX)

TRANSFORM_HANDLER = "lambdas.lake_transform.handler.lambda_handler"
TRANSFORM_RUNTIME = lambda_.Runtime.PYTHON_3_12
# A 0.2 MB buffer inflates to at most ~5.7 MB of response (featurepulse/domain/packing.py): 512 MB gives the
# Lambda room for the request, the inflated lines and the response at once, and more CPU than 128 MB.
TRANSFORM_MEMORY_MB = 512
TRANSFORM_TIMEOUT = Duration.minutes(1)
# Firehose calls the Lambda when 0.2 MB of records or this interval is reached (allowed 60-900 s).
TRANSFORM_BUFFER_INTERVAL = Duration.seconds(60)
TRANSFORM_RETRIES = 3

EVENTS_TABLE_NAME = "events"
QUARANTINE_TABLE_NAME = "quarantine"
ATHENA_ENGINE_VERSION = "Athena engine version 3"
ATHENA_RESULTS_PREFIX = "results/"
# The wire format of every time (featurepulse.domain.schema.format_timestamp), as a Joda/Hive pattern.
WIRE_TIMESTAMP_PATTERN = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
# Events up to a day ahead of NOW (accepted clock skew around midnight UTC) must still be queryable.
PROJECTION_MAX = "NOW+1DAYS"
_GLUE_TYPES: dict[ColumnType, glue.Type] = {
    "string": glue.Schema.STRING,
    "bigint": glue.Schema.BIG_INT,
    "timestamp": glue.Schema.TIMESTAMP,
}
_QUARANTINE_TYPES: dict[str, glue.Type] = {
    "index": glue.Schema.BIG_INT,
    "received_at": glue.Schema.TIMESTAMP,
    "raw_bytes": glue.Schema.BIG_INT,
    "truncated": glue.Schema.BOOLEAN,
    "batch_index": glue.Schema.BIG_INT,
}


def glue_database_name(stack_name: str) -> str:
    """`<stack>_lake` in Glue's alphabet (lower case, underscores): one lake database per stack."""
    return re.sub(r"[^a-z0-9_]", "_", stack_name.lower()) + "_lake"


class Lake(Construct):
    """Attributes: `delivery_stream`, `database` / `database_name`, `events_table` / `events_table_name`,
    `quarantine_table`, `workgroup` / `workgroup_name`, `results_bucket`, `results_prefix`, `firehose_log_group`,
    `transform_function` (the Firehose processing Lambda)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.Bucket,
        access_logs_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        stream: kinesis.IStream,
        code: lambda_.Code,
        buffer_interval_seconds: int,
        buffer_size_mib: int,
        projection_start_date: str,
        errors_expiration_days: int,
        athena_bytes_scanned_cutoff_mb: int,
        athena_results_expiration_days: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.database_name = glue_database_name(stack.stack_name)
        self.database = glue.Database(
            self,
            "Database",
            database_name=self.database_name,
            description="featurepulse lake: enriched events (Parquet) and quarantined events (JSON Lines)",
            # Metadata only: the data stays in the (retained) lake bucket.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.events_table = self._events_table(bucket, projection_start_date)
        self.events_table_name = EVENTS_TABLE_NAME
        self.quarantine_table = self._quarantine_table(bucket, projection_start_date)

        bucket.add_lifecycle_rule(
            id="expire-firehose-error-records",
            prefix=ERRORS_PREFIX,
            expiration=Duration.days(errors_expiration_days),
        )
        self.firehose_log_group = logs.LogGroup(
            self,
            "FirehoseLogs",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.transform_function = self._transform_function(
            code=code, encryption_key=encryption_key, log_retention=log_retention
        )
        self.delivery_stream = self._delivery_stream(
            bucket=bucket,
            encryption_key=encryption_key,
            stream=stream,
            buffer_interval_seconds=buffer_interval_seconds,
            buffer_size_mib=buffer_size_mib,
        )

        self.results_prefix = ATHENA_RESULTS_PREFIX
        self.results_bucket = encrypted_bucket(
            self,
            "AthenaResults",
            encryption_key=encryption_key,
            access_logs_bucket=access_logs_bucket,
            access_logs_prefix="athena-results/",
            # Query results are reproducible from the lake: no versioning, and they expire.
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-query-results",
                    expiration=Duration.days(athena_results_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        self.workgroup_name = f"{stack.stack_name}-lake"
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.workgroup_name,
            description="featurepulse: queries on the lake (engine v3, encrypted results, per-query scan cutoff)",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=athena_bytes_scanned_cutoff_mb * 1024 * 1024,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ATHENA_ENGINE_VERSION),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.results_bucket.s3_url_for_object(ATHENA_RESULTS_PREFIX),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=encryption_key.key_arn
                    ),
                ),
            ),
        )

    # --- Glue ---------------------------------------------------------------------------------------------
    def _events_table(self, bucket: s3.IBucket, projection_start_date: str) -> glue.S3Table:
        columns = [glue.Column(name=c.name, type=_GLUE_TYPES[c.type]) for c in lake_columns()]
        # One source of truth: what we declare is exactly what the model derives for Glue.
        assert [{"Name": c.name, "Type": c.type.input_string} for c in columns] == glue_columns()
        table = glue.S3Table(
            self,
            "EventsTable",
            database=self.database,
            table_name=EVENTS_TABLE_NAME,
            description="Enriched events (featurepulse.domain.schema.EnrichedEvent), one row each, written by "
            "Firehose as Parquet; partitioned by event time (UTC) with partition projection.",
            columns=columns,
            partition_keys=[glue.Column(name=p, type=glue.Schema.STRING) for p in PARTITION_COLUMNS],
            data_format=glue.DataFormat.PARQUET,
            storage=glue.S3TableStorage.from_bucket(bucket),
            s3_prefix=EVENTS_PREFIX,
            compressed=True,
            partition_projection=_hourly_projection(projection_start_date),
            parameters={
                "storage.location.template": bucket.s3_url_for_object(f"{EVENTS_PREFIX}dt=${{dt}}/hr=${{hr}}/"),
                "parquet.compression": PARQUET_COMPRESSION,
            },
        )
        table.apply_removal_policy(RemovalPolicy.DESTROY)
        return table

    def _quarantine_table(self, bucket: s3.IBucket, projection_start_date: str) -> glue.S3Table:
        columns = [
            glue.Column(name=name, type=_QUARANTINE_TYPES.get(name, glue.Schema.STRING))
            for name in QuarantinedEvent.model_fields
        ]
        table = glue.S3Table(
            self,
            "QuarantineTable",
            database=self.database,
            table_name=QUARANTINE_TABLE_NAME,
            description="Invalid events with their reason (featurepulse.domain.quarantine.QuarantinedEvent), "
            "JSON Lines partitioned by receive time (UTC).",
            columns=columns,
            partition_keys=[glue.Column(name=p, type=glue.Schema.STRING) for p in PARTITION_COLUMNS],
            data_format=glue.DataFormat(
                input_format=glue.InputFormat.TEXT,
                output_format=glue.OutputFormat.HIVE_IGNORE_KEY_TEXT,
                serialization_library=glue.SerializationLibrary.HIVE_JSON,
                classification_string=glue.ClassificationString.JSON,
            ),
            storage=glue.S3TableStorage.from_bucket(bucket),
            s3_prefix=QUARANTINE_PREFIX,
            partition_projection=_hourly_projection(projection_start_date),
            parameters={
                "storage.location.template": bucket.s3_url_for_object(f"{QUARANTINE_PREFIX}dt=${{dt}}/hr=${{hr}}/")
            },
        )
        cfn = table.node.default_child
        assert isinstance(cfn, glue.CfnTable)
        # The Hive JSON SerDe parses our wire times (`2026-11-25T10:20:00.000Z`) into `received_at timestamp`.
        cfn.add_property_override(
            "TableInput.StorageDescriptor.SerdeInfo.Parameters", {"timestamp.formats": WIRE_TIMESTAMP_PATTERN}
        )
        table.apply_removal_policy(RemovalPolicy.DESTROY)
        return table

    # --- Firehose -----------------------------------------------------------------------------------------
    def _delivery_stream(
        self,
        *,
        bucket: s3.IBucket,
        encryption_key: kms.IKey,
        stream: kinesis.IStream,
        buffer_interval_seconds: int,
        buffer_size_mib: int,
    ) -> firehose.DeliveryStream:
        events_cfn = self.events_table.node.default_child
        assert isinstance(events_cfn, glue.CfnTable)
        role = iam.Role(
            self,
            "FirehoseRole",
            assumed_by=iam.ServicePrincipal("firehose.amazonaws.com"),
            description="featurepulse lake Firehose: read the stream, read the Glue schema, write events/ and errors/",
        )
        self.firehose_role = role
        self._grant_firehose_destination(
            role, bucket=bucket, encryption_key=encryption_key, events_table=events_cfn, stack=Stack.of(self)
        )
        self.firehose_log_group.grant_write(role)
        # Invoke the processing Lambda (the L2 processor's own grant goes to the destination's immutable role view).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                resources=[self.transform_function.function_arn],
            )
        )
        destination = firehose.S3Bucket(
            bucket,
            # An immutable view of the role: the L2 would grant read/write/DELETE on the whole lake bucket (the
            # erasure audit trail and the quarantine included) and glue:GetSchemaVersion on "*". The destination's
            # permissions are the explicit statements of _grant_firehose_destination instead.
            role=role.without_policy_updates(),
            data_output_prefix=FIREHOSE_EVENTS_PREFIX,
            error_output_prefix=FIREHOSE_ERRORS_PREFIX,
            file_extension=PARQUET_SUFFIX,
            buffering_interval=Duration.seconds(buffer_interval_seconds),
            buffering_size=Size.mebibytes(buffer_size_mib),
            encryption_key=encryption_key,
            logging_config=firehose.EnableLogging(self.firehose_log_group),
            dynamic_partitioning=firehose.DynamicPartitioningProps(enabled=True, retry_duration=Duration.minutes(5)),
            # Our records pack several events as gzip JSON Lines (featurepulse.domain.packing); the Lambda gives
            # each record's partition. Its BufferSizeInMBs is set below (the L2 accepts whole MiB only).
            processors=[
                firehose.LambdaFunctionProcessor(
                    self.transform_function, buffer_interval=TRANSFORM_BUFFER_INTERVAL, retries=TRANSFORM_RETRIES
                )
            ],
            data_format_conversion=firehose.DataFormatConversionProps(
                schema_configuration=firehose.SchemaConfiguration.from_cfn_table(events_cfn),
                # OpenX parses yyyy-MM-dd'T'HH:mm:ss[.S]'Z' (our wire format) into `timestamp` columns.
                input_format=firehose.InputFormat.OPENX_JSON,
                output_format=firehose.ParquetOutputFormat(
                    compression=firehose.ParquetCompression.of(PARQUET_COMPRESSION),
                    enable_dictionary_compression=True,
                    writer_version=firehose.ParquetWriterVersion.V1,
                ),
            ),
        )
        delivery_stream = firehose.DeliveryStream(
            self,
            "DeliveryStream",
            source=firehose.KinesisStreamSource(stream),
            destination=destination,
            role=role,
        )
        # The L2 makes the stream wait for the grants it added; ours are on the role's default policy.
        delivery_stream.node.add_dependency(role)
        # The processor buffer bounds the Lambda's response under 6 MB (0.2 MB x 16x ratio x 4/3 base64 + records:
        # the arithmetic is in featurepulse/domain/packing.py); the L2 renders whole MiB only, so it is set here.
        cfn_stream = delivery_stream.node.default_child
        assert isinstance(cfn_stream, firehose.CfnDeliveryStream)
        cfn_stream.add_property_override(
            "ExtendedS3DestinationConfiguration.ProcessingConfiguration.Processors",
            [
                {
                    "Type": "Lambda",
                    "Parameters": [
                        {"ParameterName": "LambdaArn", "ParameterValue": self.transform_function.function_arn},
                        {"ParameterName": "BufferSizeInMBs", "ParameterValue": str(FIREHOSE_PROCESSOR_BUFFER_MB)},
                        {
                            "ParameterName": "BufferIntervalInSeconds",
                            "ParameterValue": str(int(TRANSFORM_BUFFER_INTERVAL.to_seconds())),
                        },
                        {"ParameterName": "NumberOfRetries", "ParameterValue": str(TRANSFORM_RETRIES)},
                    ],
                }
            ],
        )
        suppress(
            delivery_stream,
            rule="AwsSolutions-KDF1",
            reason="Firehose server-side encryption is not available for a Kinesis Data Streams source; the data "
            "is encrypted at rest by the source stream (KMS, data key) and in S3 (KMS, data key).",
        )
        suppress(
            role,
            rule="AwsSolutions-IAM5",
            reason="Firehose writes objects it names itself under its two prefixes of the lake bucket (events/, "
            "errors/): put, abort and read back only there, never delete. The stream read grant (stream.grant_read) "
            "needs no wildcard.",
            applies_to=[
                RegexAppliesTo(regex=r"/^Resource::<DataBucket[A-Za-z0-9]+\.Arn>\/(events|errors)\/\*$/"),
            ],
            apply_to_children=True,
        )
        # The L2 adds a mapping of Firehose CIDR blocks for destinations we do not use (Redshift, Splunk...);
        # an unreferenced mapping is a template warning (cfn-lint W7001).
        Stack.of(self).node.try_remove_child("@aws-cdk--aws-kinesisfirehose.CidrBlocks")
        return delivery_stream

    def _transform_function(
        self, *, code: lambda_.Code, encryption_key: kms.IKey, log_retention: logs.RetentionDays
    ) -> lambda_.Function:
        """The Firehose processing Lambda: its own KMS-encrypted log group, a role that may write there and nothing
        else (it reads only the records Firehose hands it), no X-Ray."""
        log_group = logs.LogGroup(
            self,
            "TransformLogs",
            encryption_key=encryption_key,
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            "TransformRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="featurepulse lake transform Lambda: its own log group only",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            "TransformFunction",
            description="featurepulse: Firehose processing (decompress packed records, give each its dt/hr)",
            runtime=TRANSFORM_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=TRANSFORM_HANDLER,
            code=code,
            memory_size=TRANSFORM_MEMORY_MB,
            timeout=TRANSFORM_TIMEOUT,
            environment={
                ENV_SERVICE_NAME: SERVICE_NAME,
                ENV_METRICS_NAMESPACE: METRICS_NAMESPACE,
                ENV_LOG_LEVEL: "INFO",
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
            role=role,
            log_group=log_group,
            # JSON log format; Lambda's START/END/REPORT lines left out (cdk/lambda_logging.py).
            **lambda_logging(),
        )
        suppress(
            function,
            rule="AwsSolutions-L1",
            reason="Pinned to python3.12 on purpose: lambda_bundling installs cp312 manylinux wheels "
            "(pydantic-core, orjson) for the shared Lambda bundle; runtime and wheel tag move together in one change.",
        )
        return function

    @staticmethod
    def _grant_firehose_destination(
        role: iam.Role, *, bucket: s3.IBucket, encryption_key: kms.IKey, events_table: glue.CfnTable, stack: Stack
    ) -> None:
        """What the S3 destination needs (AWS's "Grant Firehose access to an Amazon S3 destination" policy, minus
        what we do not use), scoped to Firehose's own prefixes: no delete, nothing outside events/ and errors/."""
        prefixes = [bucket.arn_for_objects(f"{prefix}*") for prefix in FIREHOSE_PREFIXES]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                resources=prefixes,
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            )
        )
        # SSE-KMS objects: a data key per object (GenerateDataKey) and Decrypt for multipart uploads.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[encryption_key.key_arn],
            )
        )
        # The Parquet conversion reads the schema of the `events` table (latest version).
        glue_arn = f"arn:{stack.partition}:glue:{stack.region}:{stack.account}"
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
                resources=[
                    f"{glue_arn}:catalog",
                    f"{glue_arn}:database/{events_table.database_name}",
                    f"{glue_arn}:table/{events_table.database_name}/{events_table.ref}",
                ],
            )
        )


def _hourly_projection(start_date: str) -> dict[str, glue.PartitionProjectionConfiguration]:
    return {
        "dt": glue.PartitionProjectionConfiguration.date(
            format="yyyy-MM-dd",
            min=start_date,
            max=PROJECTION_MAX,
            step=glue.DateProjectionStep(interval=1, interval_unit=glue.DateIntervalUnit.DAYS),
        ),
        "hr": glue.PartitionProjectionConfiguration.integer(min=0, max=23, digits=2),
    }
