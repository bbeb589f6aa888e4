"""The synthesized lake: Firehose (Kinesis source, the processing Lambda, dynamic partitioning, Parquet conversion
with the Glue schema, error prefix, KMS), the Glue tables (one schema source, partition projection), the Athena
workgroup, and the erasure job. Resources are found by type and property; no hashed logical id is written here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk.lake import ATHENA_ENGINE_VERSION, PROJECTION_MAX, WIRE_TIMESTAMP_PATTERN, glue_database_name
from cdk.settings import StackSettings
from featurepulse.constants import (
    ENV_LAKE_BUCKET,
    METRICS_NAMESPACE,
    OUTPUT_ATHENA_RESULTS_BUCKET,
    OUTPUT_ATHENA_WORKGROUP,
    OUTPUT_DELIVERY_STREAM,
    OUTPUT_ERASURE_QUEUE_URL,
    OUTPUT_EVENTS_TABLE,
    OUTPUT_GLUE_DATABASE,
    QUARANTINE_PREFIX,
)
from featurepulse.domain.packing import FIREHOSE_PROCESSOR_BUFFER_MB
from featurepulse.domain.quarantine import QuarantinedEvent
from featurepulse.domain.schema import PARTITION_COLUMNS, glue_columns
from featurepulse.lake.layout import (
    ERRORS_PREFIX,
    EVENTS_PREFIX,
    FIREHOSE_ERRORS_PREFIX,
    FIREHOSE_EVENTS_PREFIX,
)
from featurepulse.lake.parquet import PARQUET_COMPRESSION, arrow_schema
from featurepulse.lake.transform import PROCESSING_FAILED_METRIC
from tests.infrastructure.conftest import Synthesized

DEFAULTS = StackSettings()
_ARROW_TO_GLUE = {"string": "string", "int64": "bigint", "timestamp[ms]": "timestamp"}


def _delivery(synthesized: Synthesized) -> dict[str, Any]:
    _, body = synthesized.resource(synthesized.stack.lake.delivery_stream)
    props: dict[str, Any] = body["Properties"]
    return props


def _table(synthesized: Synthesized, name: str) -> tuple[str, dict[str, Any]]:
    table = {"events": synthesized.stack.lake.events_table, "quarantine": synthesized.stack.lake.quarantine_table}[name]
    logical_id, body = synthesized.resource(table)
    assert body["Properties"]["TableInput"]["Name"] == name
    props: dict[str, Any] = body["Properties"]
    return logical_id, props


def _data_key(synthesized: Synthesized) -> str:
    return synthesized.resource(synthesized.stack.key)[0]


def _lake_bucket(synthesized: Synthesized) -> str:
    return synthesized.resource(synthesized.stack.data_bucket.bucket)[0]


def _workgroup(synthesized: Synthesized) -> dict[str, Any]:
    props: dict[str, Any] = synthesized.resource(synthesized.stack.lake.workgroup)[1]["Properties"]
    return props


# --- one schema --------------------------------------------------------------------------------------------
def test_the_events_table_columns_are_generated_from_the_event_model(synthesized: Synthesized) -> None:
    # Given the synthesized Glue table `events`
    _, table = _table(synthesized, "events")
    descriptor = table["TableInput"]["StorageDescriptor"]
    # Then its columns are exactly glue_columns() (the model), and its partition keys dt/hr strings
    assert descriptor["Columns"] == glue_columns()
    assert table["TableInput"]["PartitionKeys"] == [{"Name": p, "Type": "string"} for p in PARTITION_COLUMNS]
    # And the Parquet schema the local writer uses has the same names and types
    arrow = [{"Name": f.name, "Type": _ARROW_TO_GLUE[str(f.type)]} for f in arrow_schema()]
    assert arrow == descriptor["Columns"]


def test_firehose_converts_with_the_schema_of_that_very_table(synthesized: Synthesized) -> None:
    # Given the delivery stream's record-format conversion
    conversion = _delivery(synthesized)["ExtendedS3DestinationConfiguration"]["DataFormatConversionConfiguration"]
    events_id, _ = _table(synthesized, "events")
    # Then it reads the latest version of the `events` table, parses JSON with OpenX, writes Parquet
    assert conversion["Enabled"] is True
    assert conversion["SchemaConfiguration"]["TableName"] == {"Ref": events_id}
    assert conversion["SchemaConfiguration"]["VersionId"] == "LATEST"
    # OpenX parses our wire times (yyyy-MM-dd'T'HH:mm:ss.SSS'Z') into timestamp columns without options
    assert conversion["InputFormatConfiguration"]["Deserializer"] == {"OpenXJsonSerDe": {}}
    parquet = conversion["OutputFormatConfiguration"]["Serializer"]["ParquetSerDe"]
    # And compresses like the local writer does
    assert parquet["Compression"] == PARQUET_COMPRESSION
    assert parquet["EnableDictionaryCompression"] is True


# --- Firehose -----------------------------------------------------------------------------------------------
def test_firehose_reads_the_event_stream(synthesized: Synthesized) -> None:
    delivery = _delivery(synthesized)
    stream_id, _ = synthesized.resource(synthesized.stack.event_stream.stream)
    assert delivery["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert delivery["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == {"Fn::GetAtt": [stream_id, "Arn"]}


def test_firehose_hands_packed_records_to_the_processing_lambda_that_partitions_them(synthesized: Synthesized) -> None:
    # Given the S3 destination
    destination = _delivery(synthesized)["ExtendedS3DestinationConfiguration"]
    assert destination["ProcessingConfiguration"]["Enabled"] is True
    processors = destination["ProcessingConfiguration"]["Processors"]
    # Then the only processor is the transform Lambda (no JSON de-aggregation, no JQ), with the 0.2 MB buffer that
    # bounds its response under 6 MB (featurepulse/domain/packing.py)
    assert [p["Type"] for p in processors] == ["Lambda"]
    parameters = {p["ParameterName"]: p["ParameterValue"] for p in processors[0]["Parameters"]}
    function_id = synthesized.resource(synthesized.stack.lake.transform_function)[0]
    assert parameters["LambdaArn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert parameters["BufferSizeInMBs"] == str(FIREHOSE_PROCESSOR_BUFFER_MB) == "0.2"
    assert 60 <= int(parameters["BufferIntervalInSeconds"]) <= 900
    # And the keys land in the layout the Glue table projects; what fails goes to the error prefix
    assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert destination["Prefix"] == FIREHOSE_EVENTS_PREFIX
    assert destination["ErrorOutputPrefix"] == FIREHOSE_ERRORS_PREFIX
    assert destination["FileExtension"] == ".parquet"


def test_firehose_writes_to_the_lake_bucket_with_the_data_key_and_logs_its_errors(synthesized: Synthesized) -> None:
    destination = _delivery(synthesized)["ExtendedS3DestinationConfiguration"]
    assert destination["BucketARN"] == {"Fn::GetAtt": [_lake_bucket(synthesized), "Arn"]}
    assert destination["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"] == {
        "Fn::GetAtt": [_data_key(synthesized), "Arn"]
    }
    assert destination["CloudWatchLoggingOptions"]["Enabled"] is True


def _role_statements(synthesized: Synthesized, role: Any) -> list[dict[str, Any]]:
    role_id = synthesized.resource(role)[0]
    statements: list[dict[str, Any]] = []
    for body in synthesized.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in body["Properties"]["Roles"]:
            statements += body["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_firehose_role_puts_only_under_its_own_prefixes_and_never_deletes(synthesized: Synthesized) -> None:
    # Given every statement of the Firehose role (the delivery stream runs as it)
    role = synthesized.stack.lake.firehose_role
    delivery = _delivery(synthesized)["ExtendedS3DestinationConfiguration"]
    assert delivery["RoleARN"] == {"Fn::GetAtt": [synthesized.resource(role)[0], "Arn"]}
    statements = _role_statements(synthesized, role)
    actions = {a for s in statements for a in _listed(s["Action"])}
    # Then it can delete nothing (the erasure audit trail, the quarantine, the events), and has no wildcard action
    assert not [a for a in actions if "Delete" in a or a.endswith("*")]
    # And object-level S3 access is limited to events/ and errors/ (the prefixes its two outputs start with)
    bucket_arn = {"Fn::GetAtt": [_lake_bucket(synthesized), "Arn"]}
    object_statements = [s for s in statements if any(a.startswith("s3:") for a in _listed(s["Action"]))]
    object_resources = []
    for statement in object_statements:
        for resource in _listed(statement["Resource"]):
            if resource == bucket_arn:
                # bucket-level only: location and listings, no data
                assert set(_listed(statement["Action"])) <= {
                    "s3:GetBucketLocation",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                }
            else:
                assert resource["Fn::Join"][1][0] == bucket_arn
                object_resources.append(resource["Fn::Join"][1][1])
                assert set(_listed(statement["Action"])) == {
                    "s3:AbortMultipartUpload",
                    "s3:GetObject",
                    "s3:PutObject",
                }
    assert sorted(object_resources) == [f"/{ERRORS_PREFIX}*", f"/{EVENTS_PREFIX}*"]
    assert FIREHOSE_EVENTS_PREFIX.startswith(EVENTS_PREFIX) and FIREHOSE_ERRORS_PREFIX.startswith(ERRORS_PREFIX)
    # And no statement reaches every resource
    assert not [s for s in statements if s["Resource"] == "*"]


def test_firehose_role_still_has_what_delivery_needs(synthesized: Synthesized) -> None:
    statements = _role_statements(synthesized, synthesized.stack.lake.firehose_role)
    actions = {a for s in statements for a in _listed(s["Action"])}
    # the source stream, the SSE-KMS data key, the Glue schema of the Parquet conversion, its error logs
    assert {"kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DescribeStream"} <= actions
    assert {"kms:GenerateDataKey", "kms:Decrypt"} <= actions
    assert {"glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"} <= actions
    assert {"logs:PutLogEvents", "logs:CreateLogStream"} <= actions


def test_buffering_defaults_to_the_documented_context_values(synthesized: Synthesized) -> None:
    hints = _delivery(synthesized)["ExtendedS3DestinationConfiguration"]["BufferingHints"]
    assert hints == {
        "IntervalInSeconds": DEFAULTS.lake_buffer_interval_seconds,
        "SizeInMBs": DEFAULTS.lake_buffer_size_mib,
    }


@pytest.mark.slow
def test_context_values_set_buffering_scan_cutoff_and_projection_start(synthesize_with: Any) -> None:
    # Given a synth with the lake's context values set
    synthesized = synthesize_with(
        lakeBufferIntervalSeconds=60,
        lakeBufferSizeMiB=64,
        athenaBytesScannedCutoffMb=100,
        lakeProjectionStartDate="2026-01-01",
    )
    # Then Firehose, the workgroup and the projection follow them
    hints = _delivery(synthesized)["ExtendedS3DestinationConfiguration"]["BufferingHints"]
    assert hints == {"IntervalInSeconds": 60, "SizeInMBs": 64}
    assert _workgroup(synthesized)["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] == 100 * 1024 * 1024
    _, table = _table(synthesized, "events")
    assert table["TableInput"]["Parameters"]["projection.dt.range"] == f"2026-01-01,{PROJECTION_MAX}"


# --- Glue ---------------------------------------------------------------------------------------------------
def test_the_events_table_projects_its_partitions_without_a_crawler(synthesized: Synthesized) -> None:
    _, table = _table(synthesized, "events")
    params = table["TableInput"]["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["projection.dt.range"] == f"{DEFAULTS.lake_projection_start_date},{PROJECTION_MAX}"
    assert params["projection.hr.type"] == "integer"
    assert params["projection.hr.range"] == "0,23"
    assert params["projection.hr.digits"] == "2"
    template = json.dumps(params["storage.location.template"])
    assert "/events/dt=${dt}/hr=${hr}/" in template
    assert table["TableInput"]["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert synthesized.resources("AWS::Glue::Crawler") == {}


def test_the_quarantine_table_reads_the_quarantine_json_lines(synthesized: Synthesized) -> None:
    _, table = _table(synthesized, "quarantine")
    descriptor = table["TableInput"]["StorageDescriptor"]
    assert [c["Name"] for c in descriptor["Columns"]] == list(QuarantinedEvent.model_fields)
    assert {c["Name"]: c["Type"] for c in descriptor["Columns"]}["received_at"] == "timestamp"
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == "org.apache.hive.hcatalog.data.JsonSerDe"
    assert descriptor["SerdeInfo"]["Parameters"] == {"timestamp.formats": WIRE_TIMESTAMP_PATTERN}
    assert f"/{QUARANTINE_PREFIX}" in json.dumps(descriptor["Location"])
    assert table["TableInput"]["Parameters"]["projection.enabled"] == "true"


def test_the_database_is_named_after_the_stack(synthesized: Synthesized) -> None:
    _, database = synthesized.resource(synthesized.stack.lake.database)
    assert database["Properties"]["DatabaseInput"]["Name"] == glue_database_name(DEFAULTS.stack_name)
    assert glue_database_name("FeaturePulse-Staging") == "featurepulse_staging_lake"


# --- Athena -------------------------------------------------------------------------------------------------
def test_the_workgroup_enforces_engine_v3_encrypted_results_and_a_scan_cutoff(synthesized: Synthesized) -> None:
    config = _workgroup(synthesized)["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["EngineVersion"]["SelectedEngineVersion"] == ATHENA_ENGINE_VERSION
    assert config["BytesScannedCutoffPerQuery"] == DEFAULTS.athena_bytes_scanned_cutoff_mb * 1024 * 1024
    encryption = config["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption == {"EncryptionOption": "SSE_KMS", "KmsKey": {"Fn::GetAtt": [_data_key(synthesized), "Arn"]}}
    assert config["PublishCloudWatchMetricsEnabled"] is True


def test_query_results_are_kms_encrypted_tls_only_logged_and_expire(synthesized: Synthesized) -> None:
    location = json.dumps(_workgroup(synthesized)["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"])
    results_id, results = synthesized.resource(synthesized.stack.lake.results_bucket)
    assert f'"Ref": "{results_id}"' in location
    bucket = results["Properties"]
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [_data_key(synthesized), "Arn"]}}
    assert "LoggingConfiguration" in bucket
    rules = bucket["LifecycleConfiguration"]["Rules"]
    assert {"ExpirationInDays": DEFAULTS.athena_results_expiration_days}.items() <= rules[0].items()
    policies = [
        body["Properties"]["PolicyDocument"]["Statement"]
        for body in synthesized.resources("AWS::S3::BucketPolicy").values()
        if body["Properties"]["Bucket"] == {"Ref": results_id}
    ]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for statements in policies
        for s in statements
    )


def test_firehose_error_records_expire(synthesized: Synthesized) -> None:
    bucket = synthesized.resources("AWS::S3::Bucket")[_lake_bucket(synthesized)]["Properties"]
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    rule = rules["expire-firehose-error-records"]
    assert rule["Prefix"] == ERRORS_PREFIX and rule["ExpirationInDays"] == DEFAULTS.lake_errors_expiration_days


# --- erasure ------------------------------------------------------------------------------------------------
def test_erasure_requests_queue_is_fifo_encrypted_and_dead_lettered(synthesized: Synthesized) -> None:
    _, body = synthesized.resource(synthesized.stack.erasure.queue)
    queue = body["Properties"]
    assert queue["FifoQueue"] is True and queue["ContentBasedDeduplication"] is True
    assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": [_data_key(synthesized), "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    # visibility >= 6 x the Lambda timeout (AWS's advice for SQS event sources)
    assert queue["VisibilityTimeout"] >= 6 * 900


def test_the_erasure_lambda_is_fed_by_the_queue_in_batches_with_partial_failures(synthesized: Synthesized) -> None:
    function_id, body = synthesized.resource(synthesized.stack.erasure.function)
    function = body["Properties"]
    assert function["Handler"] == "lambdas.erasure.handler.lambda_handler"
    (props,) = [
        m["Properties"]
        for m in synthesized.resources("AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert props["BatchSize"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert function["Timeout"] == 900 and function["MemorySize"] == DEFAULTS.erasure_memory_mb
    assert function["Architectures"] == ["arm64"] and len(function["Layers"]) == 1
    assert function["Environment"]["Variables"][ENV_LAKE_BUCKET] == {"Ref": _lake_bucket(synthesized)}


def test_the_erasure_lambda_may_purge_old_versions(synthesized: Synthesized) -> None:
    statements = [
        s
        for body in synthesized.resources("AWS::IAM::Policy").values()
        for s in body["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(s["Action"] == "s3:ListBucketVersions" for s in statements)


# --- outputs and monitoring ---------------------------------------------------------------------------------
def test_the_report_job_and_operators_find_the_lake_in_the_outputs(synthesized: Synthesized) -> None:
    outputs = synthesized.template.to_json()["Outputs"]
    for name in (
        OUTPUT_GLUE_DATABASE,
        OUTPUT_EVENTS_TABLE,
        OUTPUT_ATHENA_WORKGROUP,
        OUTPUT_ATHENA_RESULTS_BUCKET,
        OUTPUT_DELIVERY_STREAM,
        OUTPUT_ERASURE_QUEUE_URL,
    ):
        assert name in outputs
    assert outputs[OUTPUT_EVENTS_TABLE]["Value"] == "events"


def test_firehose_and_erasure_failures_raise_alarms(synthesized: Synthesized) -> None:
    metrics = set()
    for body in synthesized.resources("AWS::CloudWatch::Alarm").values():
        props = body["Properties"]
        if "MetricName" in props:
            metrics.add((props["Namespace"], props["MetricName"]))
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                metrics.add((metric["Namespace"], metric["MetricName"]))
    assert ("AWS/Firehose", "DeliveryToS3.DataFreshness") in metrics
    assert ("AWS/Firehose", "FailedConversion.Records") in metrics
    assert ("AWS/Firehose", "ExecuteProcessing.Success") in metrics
    assert ("AWS/Lambda", "Errors") in metrics
    assert (METRICS_NAMESPACE, PROCESSING_FAILED_METRIC) in metrics
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics
