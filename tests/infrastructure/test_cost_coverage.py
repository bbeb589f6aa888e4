"""The cost model prices what the stack deploys: every billable CloudFormation type of the default stack and of
the stack with every optional feature on has a line in featurepulse/cost/model.py, the model's resource counts
equal the template's, and the configuration it prices (stream shards, Flink KPUs, Lambda memory, Firehose
features, the report job's DPUs) is the one synthesized. A new billable resource without a price fails here."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from featurepulse.cost.cli import to_deploy_settings
from featurepulse.cost.model import (
    ACCESS_LOG_BYTES_PER_REQUEST,
    API_DETAILED_METRICS,
    LAMBDA_PLATFORM_LOG_BYTES,
    REPORT_JOB_DPU,
    DeploySettings,
    Inventory,
    inventory_for,
)
from tests.infrastructure.conftest import Synthesized

# Every optional feature on (as tests/deploy's all-features synth, without its slow pip bundling).
ALL_FEATURES: dict[str, Any] = {
    "quicksightPrincipalArn": "arn:aws:quicksight:us-east-1:123456789012:user/default/analyst",
    "reportSender": "reports@example.com",
    "reportRecipients": "marketing@example.com,pm@product.example.org",
    "alarmEmail": "ops@example.com",
    "streamMode": "provisioned",
    "shardCount": 2,
    "wafEnabled": True,
}
# Typical values of the access log's variables: a browser SDK's batch, accepted (the line the model prices).
ACCESS_LOG_SAMPLE_VALUES: dict[str, str] = {
    "$context.requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    "$context.httpMethod": "POST",
    "$context.path": "/prod/v1/batch",
    "$context.status": "200",
    "$context.responseLatency": "48",
    "$context.error.responseType": "-",
    "$context.integrationErrorMessage": "-",
    "$context.identity.userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "$context.wafResponseCode": "WAF_ALLOW",
}

# Billable types -> the Inventory count the model prices them by (None: priced by usage, whatever their number).
PRICED: dict[str, str | None] = {
    "AWS::ApiGateway::RestApi": None,  # requests
    "AWS::WAFv2::WebACL": "web_acls",
    "AWS::Lambda::Function": "lambda_functions",
    "AWS::Lambda::EventSourceMapping": None,  # the erasure queue's polling (SQS requests)
    "AWS::Kinesis::Stream": "streams",
    "AWS::KinesisFirehose::DeliveryStream": "delivery_streams",
    "AWS::KinesisAnalyticsV2::Application": "flink_applications",
    "AWS::S3::Bucket": "buckets",
    "AWS::Glue::Database": "glue_databases",
    "AWS::Glue::Table": "glue_tables",
    "AWS::Glue::Job": "glue_jobs",
    "AWS::Athena::WorkGroup": None,  # bytes scanned by its queries
    "AWS::Athena::DataCatalog": "athena_data_catalogs",  # the live panels' federated queries
    "AWS::Serverless::Application": "connector_applications",  # the DynamoDB connector Lambda
    "AWS::DynamoDB::Table": "dynamodb_tables",
    "AWS::QuickSight::DataSet": "quicksight_data_sets",
    "AWS::QuickSight::DataSource": "quicksight_data_sources",
    "AWS::QuickSight::Dashboard": "quicksight_dashboards",
    "AWS::SES::EmailIdentity": "ses_identities",
    "AWS::SES::ConfigurationSet": "ses_configuration_sets",  # the mail it sends
    "AWS::CloudWatch::Alarm": None,  # per alarm metric: compared below
    "AWS::CloudWatch::Dashboard": "dashboards",
    "AWS::Logs::LogGroup": "log_groups",
    "AWS::KMS::Key": "kms_keys",
    "AWS::SQS::Queue": "queues",
    "AWS::SNS::Topic": "topics",
    "AWS::SNS::Subscription": "sns_subscriptions",
    "AWS::Scheduler::Schedule": "schedules",
    "AWS::XRay::SamplingRule": None,  # the traces it records: its rate is compared below
}
# Types that cost nothing by themselves, and why.
FREE: dict[str, str] = {
    "AWS::ApiGateway::Account": "account setting (the CloudWatch role of API Gateway)",
    "AWS::ApiGateway::Deployment": "configuration; requests are billed on the API",
    "AWS::ApiGateway::GatewayResponse": "configuration",
    "AWS::ApiGateway::Method": "configuration",
    "AWS::ApiGateway::Resource": "configuration",
    "AWS::ApiGateway::Stage": "configuration (its logs, metrics and traces are priced under CloudWatch and X-Ray)",
    "AWS::WAFv2::WebACLAssociation": "attaching the priced web ACL",
    "AWS::IAM::Role": "IAM is free",
    "AWS::IAM::Policy": "IAM is free",
    "AWS::Lambda::Permission": "resource policy",
    "AWS::Lambda::LayerVersion": "layers are free (their bytes count in the function's package)",
    "AWS::Logs::LogStream": "streams are free; the group's ingestion and storage are priced",
    "AWS::S3::BucketPolicy": "policy",
    "AWS::SQS::QueuePolicy": "policy",
    "AWS::SNS::TopicPolicy": "policy",
    "AWS::Glue::SecurityConfiguration": "configuration of the priced job",
    "AWS::KinesisAnalyticsV2::ApplicationCloudWatchLoggingOption": "configuration; the Flink logs are priced",
    "AWS::Events::Rule": "rules on AWS service events (the report job's failures) are free",
}


def counts(synth: Synthesized) -> Counter[str]:
    return Counter(body["Type"] for body in synth.template_json["Resources"].values())


def alarm_metrics(synth: Synthesized) -> int:
    """Billable alarm metrics: one per standard alarm, one per metric of a metric-math alarm."""
    total = 0
    for body in synth.resources("AWS::CloudWatch::Alarm").values():
        metrics = body["Properties"].get("Metrics")
        total += sum(1 for m in metrics if "MetricStat" in m) if metrics else 1
    return total


@pytest.fixture(scope="module")
def all_features(synthesize_with: Callable[..., Synthesized]) -> Synthesized:
    return synthesize_with(**ALL_FEATURES)


def model_of(synth: Synthesized) -> tuple[DeploySettings, Inventory]:
    settings = to_deploy_settings(synth.stack.settings)
    return settings, inventory_for(settings)


def check_priced(synth: Synthesized) -> None:
    found = counts(synth)
    unpriced = sorted(t for t in found if t not in PRICED and t not in FREE)
    assert unpriced == [], f"billable types without a price in featurepulse/cost/model.py: {unpriced}"
    _, inventory = model_of(synth)
    for resource_type, field_name in PRICED.items():
        if field_name is not None:
            assert found.get(resource_type, 0) == getattr(inventory, field_name), resource_type
    assert alarm_metrics(synth) == sum(inventory.alarm_metrics.values())
    acls = synth.resources("AWS::WAFv2::WebACL").values()
    assert sum(len(acl["Properties"]["Rules"]) for acl in acls) == inventory.waf_rules


def check_configuration(synth: Synthesized) -> None:
    settings, _ = model_of(synth)
    (_, stream) = synth.only("AWS::Kinesis::Stream")
    props = stream["Properties"]
    if settings.stream_mode == "on-demand":
        assert props["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
    else:
        assert props["StreamModeDetails"]["StreamMode"] == "PROVISIONED"
        assert props["ShardCount"] == settings.shard_count
    (_, flink) = synth.only("AWS::KinesisAnalyticsV2::Application")
    parallelism = flink["Properties"]["ApplicationConfiguration"]["FlinkApplicationConfiguration"][
        "ParallelismConfiguration"
    ]
    assert math.ceil(parallelism["Parallelism"] / parallelism["ParallelismPerKPU"]) == math.ceil(
        settings.realtime_parallelism / settings.realtime_parallelism_per_kpu
    )
    (_, firehose) = synth.only("AWS::KinesisFirehose::DeliveryStream")
    destination = firehose["Properties"]["ExtendedS3DestinationConfiguration"]
    assert destination["DynamicPartitioningConfiguration"]["Enabled"] is True
    assert destination["DataFormatConversionConfiguration"]["Enabled"] is not False
    assert destination["BufferingHints"]["IntervalInSeconds"] == settings.lake_buffer_interval_seconds
    assert destination["BufferingHints"]["SizeInMBs"] == settings.lake_buffer_size_mib
    (_, job) = synth.only("AWS::Glue::Job")
    assert job["Properties"]["WorkerType"] == "G.1X" and job["Properties"]["NumberOfWorkers"] == REPORT_JOB_DPU
    rules = [body["Properties"]["SamplingRule"] for body in synth.resources("AWS::XRay::SamplingRule").values()]
    if settings.trace_sample_rate is None:
        assert rules == []  # X-Ray's default rule, which the model prices then
    else:
        assert [(r["FixedRate"], r["ReservoirSize"]) for r in rules] == [(settings.trace_sample_rate, 0)]
    (_, stage) = synth.only("AWS::ApiGateway::Stage")
    detailed = any(m.get("MetricsEnabled") for m in stage["Properties"].get("MethodSettings", []))
    assert detailed == (API_DETAILED_METRICS > 0), "API Gateway's per-method metrics are billed: price them"
    ingest = synth.resource(synth.stack.ingest_api.function)[1]["Properties"]
    assert ingest["MemorySize"] == settings.ingest_memory_mb
    assert ingest["Architectures"] == ["arm64"]  # priced at the arm64 GB-second
    assert settings.waf_enabled == (synth.stack.ingest_api.web_acl is not None)
    # Lambda's START/END/REPORT lines are priced at 0 bytes: only while the system log level keeps them out
    assert ingest["LoggingConfig"]["SystemLogLevel"] == "WARN"
    assert LAMBDA_PLATFORM_LOG_BYTES == 0
    # The access log line the model prices is the stage's format with typical values (within 10%)
    line = re.sub(
        r"\$context\.[A-Za-z.]+",
        lambda match: ACCESS_LOG_SAMPLE_VALUES[match.group(0)],
        stage["Properties"]["AccessLogSetting"]["Format"],
    )
    json.loads(line)  # one JSON document per request
    assert abs(len(line.encode()) - ACCESS_LOG_BYTES_PER_REQUEST) <= 0.1 * ACCESS_LOG_BYTES_PER_REQUEST, len(line)


def test_every_billable_resource_of_the_default_stack_is_priced(synthesized: Synthesized) -> None:
    check_priced(synthesized)


def test_the_model_prices_the_default_stacks_configuration(synthesized: Synthesized) -> None:
    check_configuration(synthesized)


def test_every_billable_resource_of_the_all_features_stack_is_priced(all_features: Synthesized) -> None:
    check_priced(all_features)
    check_configuration(all_features)


def test_free_and_priced_lists_do_not_overlap() -> None:
    assert set(PRICED).isdisjoint(FREE)
