"""The featurepulse stack: creates the constructs, wires them, grants, outputs. No resource logic here.

Attributes for the constructs that plug in later (lake, realtime, reporting):
`settings` (StackSettings), `key` (the data KMS key), `data_bucket.bucket` (the lake bucket; lifecycle rules
via `add_lifecycle_rule`), `event_stream.stream` (Kinesis), `sources_table.table`, `ingest_api`
(`function`, `api`, `stage`, `url`), `monitoring` (`add_firehose`, `add_flink`, `add_alarm`, `add_section`,
`topic`, `dashboard`).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from cdk_nag import RegexAppliesTo
from constructs import Construct

from cdk.data_bucket import DataBucket
from cdk.erasure import Erasure
from cdk.event_stream import EventStream
from cdk.identity import IdentityTables
from cdk.ingest_api import IngestApi
from cdk.keys import DataKey
from cdk.lake import Lake
from cdk.monitoring import Monitoring
from cdk.nag import suppress
from cdk.quicksight import add_live_panels
from cdk.realtime import RealtimeAggregation
from cdk.reporting import Reporting
from cdk.settings import StackSettings
from cdk.sources_table import SourcesTable
from cdk.traits import TraitTables
from featurepulse.constants import (
    LAKE_EVENTS_PREFIX,
    OUTPUT_AGGREGATES_TABLE,
    OUTPUT_ALARM_TOPIC_ARN,
    OUTPUT_API_URL,
    OUTPUT_ATHENA_RESULTS_BUCKET,
    OUTPUT_ATHENA_WORKGROUP,
    OUTPUT_DASHBOARD_NAME,
    OUTPUT_DELIVERY_STREAM,
    OUTPUT_ERASURE_QUEUE_URL,
    OUTPUT_EVENTS_TABLE,
    OUTPUT_FLINK_APPLICATION,
    OUTPUT_GLUE_DATABASE,
    OUTPUT_LAKE_BUCKET,
    OUTPUT_SOURCES_TABLE,
    OUTPUT_STREAM_NAME,
    QUARANTINE_PREFIX,
)


class FeaturePulseStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        lambda_code: lambda_.Code,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings

        # --- foundations: key, lake bucket, stream, sources, monitoring --------------------------------
        self.key = DataKey(self, "DataKey", description="featurepulse: events at rest (stream, lake, tables, logs)").key
        self.data_bucket = DataBucket(
            self,
            "DataBucket",
            encryption_key=self.key,
            quarantine_infrequent_access_days=settings.quarantine_infrequent_access_days,
            lake_infrequent_access_days=settings.lake_infrequent_access_days,
            noncurrent_version_expiration_days=settings.noncurrent_version_expiration_days,
            access_log_expiration_days=settings.access_log_expiration_days,
        )
        self.event_stream = EventStream(
            self,
            "EventStream",
            encryption_key=self.key,
            stream_mode=settings.stream_capacity_mode,
            shard_count=settings.stream_shard_count,
            retention_hours=settings.stream_retention_hours,
        )
        self.sources_table = SourcesTable(self, "SourcesTable", encryption_key=self.key)
        self.monitoring = Monitoring(self, "Monitoring", encryption_key=self.key, alarm_email=settings.alarm_email)

        # --- ingest: API Gateway (+ WAF with wafEnabled) + Lambda -> Kinesis --------------------------------
        self.ingest_api = IngestApi(
            self,
            "IngestApi",
            code=lambda_code,
            encryption_key=self.key,
            stream_name=self.event_stream.stream.stream_name,
            sources_table_name=self.sources_table.table.table_name,
            quarantine_bucket_name=self.data_bucket.bucket.bucket_name,
            quarantine_prefix=QUARANTINE_PREFIX,
            stage_map_json=settings.stage_map_json,
            stage_name=settings.api_stage_name,
            throttle_rate_limit=settings.throttle_rate_limit,
            throttle_burst_limit=settings.throttle_burst_limit,
            waf_enabled=settings.waf_enabled,
            waf_rate_limit=settings.waf_rate_limit,
            waf_count_only_rules=settings.waf_count_only_rules,
            cors_allow_origins=settings.cors_allow_origins,
            log_level=settings.log_level,
            memory_mb=settings.ingest_memory_mb,
            timeout_seconds=settings.ingest_timeout_seconds,
            put_time_budget_ms=settings.put_time_budget_ms,
            reserved_concurrency=settings.ingest_reserved_concurrency,
            log_retention=settings.log_retention,
            trace_sample_rate=settings.trace_sample_rate,
        )
        self._grant_ingest()
        self.monitoring.monitor_ingest(
            api=self.ingest_api.api,
            function=self.ingest_api.function,
            timeout=Duration.seconds(settings.ingest_timeout_seconds),
        )
        self.monitoring.monitor_event_stream(stream=self.event_stream.stream, shard_count=self.event_stream.shard_count)

        # --- later capabilities (lake, realtime, reporting) plug in here -----------------------------------
        self.lake = Lake(
            self,
            "Lake",
            bucket=self.data_bucket.bucket,
            access_logs_bucket=self.data_bucket.access_logs_bucket,
            encryption_key=self.key,
            stream=self.event_stream.stream,
            code=lambda_code,
            buffer_interval_seconds=settings.lake_buffer_interval_seconds,
            buffer_size_mib=settings.lake_buffer_size_mib,
            projection_start_date=settings.lake_projection_start_date,
            errors_expiration_days=settings.lake_errors_expiration_days,
            athena_bytes_scanned_cutoff_mb=settings.athena_bytes_scanned_cutoff_mb,
            athena_results_expiration_days=settings.athena_results_expiration_days,
            log_retention=settings.log_retention,
        )
        self.erasure = Erasure(
            self,
            "Erasure",
            code=lambda_code,
            bucket=self.data_bucket.bucket,
            encryption_key=self.key,
            memory_mb=settings.erasure_memory_mb,
            log_retention=settings.log_retention,
            skip_layer_dependencies=settings.skip_lambda_dependencies,
        )
        # Which ids are one person (docs/identity.md): built by the report job, pruned by the erasure job.
        self.identity = IdentityTables(
            self, "Identity", database=self.lake.database, bucket=self.data_bucket.bucket, encryption_key=self.key
        )
        assert self.erasure.function.role is not None
        self.identity.grant_build(self.erasure.function.role)
        # CRM trait imports and campaign spend (docs/segments.md): read by the report job, pruned by the erasure job.
        self.traits = TraitTables(
            self, "Traits", database=self.lake.database, bucket=self.data_bucket.bucket, encryption_key=self.key
        )
        self.traits.grant_erase(self.erasure.function.role)
        self.monitoring.add_firehose(
            delivery_stream_name=self.lake.delivery_stream.delivery_stream_name,
            buffer_interval_seconds=settings.lake_buffer_interval_seconds,
            transform_function=self.lake.transform_function,
        )
        self.erasure.add_monitoring(self.monitoring)
        # --- real time: Managed Flink -> DynamoDB aggregates (before the report job, which corrects its day rows)
        self.realtime = RealtimeAggregation(
            self,
            "Realtime",
            stream=self.event_stream.stream,
            encryption_key=self.key,
            settings=settings.realtime_settings,
            parallelism=settings.realtime_parallelism,
            parallelism_per_kpu=settings.realtime_parallelism_per_kpu,
            autoscaling=settings.realtime_autoscaling,
            checkpoint_interval_ms=settings.realtime_checkpoint_interval_ms,
            min_pause_between_checkpoints_ms=min(5000, settings.realtime_checkpoint_interval_ms // 2),
            initial_position=settings.realtime_initial_position,
            log_level=settings.realtime_log_level,
            log_retention=settings.log_retention,
        )
        self.reporting = Reporting(
            self,
            "Reporting",
            lake_bucket=self.data_bucket.bucket,
            events_prefix=LAKE_EVENTS_PREFIX,
            results_bucket=self.lake.results_bucket,
            results_prefix=self.lake.results_prefix,
            encryption_key=self.key,
            glue_database_name=self.lake.database_name,
            events_table_name=self.lake.events_table_name,
            workgroup_name=self.lake.workgroup_name,
            alarm_topic=self.monitoring.topic,
            sender=settings.report_sender,
            recipients=settings.report_recipients,
            daily_schedule=settings.report_daily_schedule,
            weekly_schedule=settings.report_weekly_schedule,
            schedule_time_zone=settings.report_time_zone,
            min_exposed_per_variant=settings.report_min_exposed_per_variant,
            # docs/experiments.md: goals, splits, controls and starts, as compact JSON
            extra_job_arguments={
                "--experiments": settings.report_experiments.to_json(),
                # docs/reports.md: adoption by segment, the audiences' traits, the KPI goals
                "--segment_trait": settings.report_segment_trait,
                "--audience_traits": ",".join(settings.report_audience_traits),
                "--goals": settings.report_goals.to_json(),
                **self.identity.job_arguments(),  # the identity build before the queries (docs/identity.md)
                # the daily correction of the live day rows (featurepulse/realtime/finalize.py)
                "--aggregates_table": self.realtime.table.table_name,
            },
        )
        # The correction writes final day rows and deletes its own stale ones; it reads the final rows it wrote.
        self.realtime.table.grant(
            self.reporting.role,
            "dynamodb:BatchWriteItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:Query",
        )
        self.identity.grant_build(self.reporting.role)
        self.traits.grant_read(self.reporting.role)
        self.reporting.add_monitoring(self.monitoring)
        self.realtime.add_monitoring(self.monitoring)

        # --- QuickSight live panels on the real-time aggregates ----------------------------------------
        self.live_panels = add_live_panels(
            self,
            table=self.realtime.table,
            encryption_key=self.key,
            principal_arn=settings.quicksight_principal_arn,
            workgroup_name=self.lake.workgroup_name,
            results_bucket=self.lake.results_bucket,
            results_prefix=self.lake.results_prefix,
            connector_version=settings.quicksight_athena_connector_version,
            service_role_name=settings.quicksight_service_role_name,
            log_retention=settings.log_retention,
        )
        CfnOutput(self, OUTPUT_AGGREGATES_TABLE, value=self.realtime.table.table_name)
        CfnOutput(self, OUTPUT_FLINK_APPLICATION, value=self.realtime.application_name)

        # --- outputs (names shared with scripts and tests: featurepulse/constants.py) ---------------------
        CfnOutput(self, OUTPUT_API_URL, value=self.ingest_api.url, description="Segment SDK host (base URL)")
        CfnOutput(self, OUTPUT_STREAM_NAME, value=self.event_stream.stream.stream_name)
        CfnOutput(self, OUTPUT_SOURCES_TABLE, value=self.sources_table.table.table_name)
        CfnOutput(self, OUTPUT_LAKE_BUCKET, value=self.data_bucket.bucket.bucket_name)
        CfnOutput(self, OUTPUT_ALARM_TOPIC_ARN, value=self.monitoring.topic.topic_arn)
        CfnOutput(self, OUTPUT_DASHBOARD_NAME, value=self.monitoring.dashboard.dashboard_name)
        CfnOutput(self, OUTPUT_GLUE_DATABASE, value=self.lake.database_name)
        CfnOutput(self, OUTPUT_EVENTS_TABLE, value=self.lake.events_table_name)
        CfnOutput(self, OUTPUT_ATHENA_WORKGROUP, value=self.lake.workgroup_name)
        CfnOutput(self, OUTPUT_ATHENA_RESULTS_BUCKET, value=self.lake.results_bucket.bucket_name)
        CfnOutput(self, OUTPUT_DELIVERY_STREAM, value=self.lake.delivery_stream.delivery_stream_name)
        CfnOutput(self, OUTPUT_ERASURE_QUEUE_URL, value=self.erasure.queue.queue_url)

    def _grant_ingest(self) -> None:
        """Exactly what the ingest Lambda calls, on exactly its resources (no wildcard actions)."""
        function = self.ingest_api.function
        self.event_stream.stream.grant(function, "kinesis:PutRecord", "kinesis:PutRecords")
        self.sources_table.table.grant(function, "dynamodb:GetItem")
        iam.Grant.add_to_principal(
            grantee=function,
            actions=["s3:PutObject"],
            resource_arns=[self.data_bucket.bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*")],
        )
        # GenerateDataKey: Kinesis and S3 encrypt what the Lambda writes; Decrypt: DynamoDB reads.
        self.key.grant(function, "kms:GenerateDataKey", "kms:Decrypt")
        suppress(
            function.role or function,
            rule="AwsSolutions-IAM5",
            reason="s3:PutObject is limited to the quarantine/ prefix of the lake bucket; object keys are made "
            "per request (dt=/hr=/<time>-<request id>.jsonl), so the prefix wildcard is the narrowest ARN.",
            applies_to=[RegexAppliesTo(regex=r"/^Resource::<DataBucket[A-Za-z0-9]+\.Arn>\/quarantine\/\*$/")],
            apply_to_children=True,
        )
