"""Pipeline health: one CloudWatch dashboard, alarms, and an encrypted SNS topic the alarms notify.

Each capability adds its own section with one call, made by the stack where it wires that capability:
`monitor_ingest(...)`, `monitor_event_stream(...)`, `add_firehose(...)`, `add_flink(...)`; anything else
goes through `add_alarm(...)` + `add_section(...)`. Alarm names are left to CloudFormation (no hard-coded
physical names); every alarm's description says what broke and where to look.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from cdk.settings import SHARD_WRITE_BYTES_PER_SECOND, SHARD_WRITE_RECORDS_PER_SECOND
from featurepulse.constants import METRICS_NAMESPACE, SERVICE_NAME
from featurepulse.lake.transform import PROCESSING_FAILED_METRIC

FIVE_MINUTES = Duration.minutes(5)
GTE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
WIDGET_WIDTH = 8  # three graphs per dashboard row (24 columns)

# Thresholds (documented in docs/deploy.md, "Alarms").
API_5XX_RATE = 0.01
API_4XX_RATE = 0.10
API_LATENCY_P99_MS = 2000
LAMBDA_DURATION_SHARE_OF_TIMEOUT = 0.8
STREAM_ITERATOR_AGE_MS = 120_000
# A provisioned stream is sized for bursts of STREAM_BURST_FACTOR (4) x its mean: a mean above half its write capacity
# for 15 minutes means the traffic has outgrown `expectedEventsPerSecond`, before writes throttle.
STREAM_WRITE_UTILISATION = 0.5
# Firehose's freshness alarm: the buffer interval plus this much for conversion, delivery and a throttled read.
FIREHOSE_FRESHNESS_MARGIN_SECONDS = 600
FLINK_CHECKPOINT_DURATION_MS = 60_000
# Custom metrics the ingest handler emits with Powertools (lambdas/ingest/handler.py INGEST_METRIC_NAMES), dimension
# service. Throttled records are the stream's own metric (the "Write throttling" graph of the stream's section).
INGEST_EVENT_METRICS: tuple[str, ...] = ("AcceptedEvents", "QuarantinedEvents")
INGEST_PUT_METRICS: tuple[str, ...] = ("PutRetriedRecords", "FailedRecords")


def aws_metric(
    *, namespace: str, dimensions: dict[str, str], name: str, statistic: str, label: str
) -> cloudwatch.Metric:
    """A five-minute metric of an AWS service namespace (the one period every section graphs and alarms on)."""
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=FIVE_MINUTES,
        label=label,
    )


def flink_metric(application_name: str, name: str, statistic: str, label: str) -> cloudwatch.Metric:
    """A metric of a Managed Flink application (AWS/KinesisAnalytics, dimension Application).

    Right for the service's application-level metrics, and for the job's custom counters only while the
    application's metrics level is APPLICATION (cdk/realtime.py METRICS_LEVEL): above it Managed Flink adds
    Task/Operator/Parallelism dimensions to custom metrics."""
    return aws_metric(
        namespace="AWS/KinesisAnalytics",
        dimensions={"Application": application_name},
        name=name,
        statistic=statistic,
        label=label,
    )


class Monitoring(Construct):
    """`topic` (alarm notifications), `dashboard`, `alarms` (every alarm added, in order)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey, alarm_email: str | None
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self, "AlarmTopic", display_name="featurepulse alarms", master_key=encryption_key, enforce_ssl=True
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        self.alarms: list[cloudwatch.Alarm] = []

    # --- building blocks ------------------------------------------------------------------------------
    def add_alarm(
        self,
        construct_id: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = GTE,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        treat_missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        """An alarm that notifies the topic when it fires and when it recovers."""
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=treat_missing_data,
            alarm_description=description,
        )
        action = cloudwatch_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms.append(alarm)
        return alarm

    def add_section(
        self, title: str, *, widgets: Sequence[cloudwatch.IWidget], alarms: Sequence[cloudwatch.Alarm] = ()
    ) -> None:
        """A titled dashboard section: its alarms' states first, then its graphs."""
        self.dashboard.add_widgets(cloudwatch.TextWidget(markdown=f"## {title}", width=24, height=1))
        if alarms:
            self.dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(alarms=list(alarms), title=f"{title}: alarms", width=24, height=2)
            )
        for start in range(0, len(widgets), 24 // WIDGET_WIDTH):
            self.dashboard.add_widgets(*widgets[start : start + 24 // WIDGET_WIDTH])

    @staticmethod
    def graph(
        title: str, *metrics: cloudwatch.IMetric, right: Sequence[cloudwatch.IMetric] = ()
    ) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(title=title, left=list(metrics), right=list(right), width=WIDGET_WIDTH)

    # --- sections -------------------------------------------------------------------------------------
    def monitor_ingest(self, *, api: apigw.RestApi, function: lambda_.IFunction, timeout: Duration) -> None:
        """The ingestion API: gateway error rates and latency, the Lambda's errors, throttles and p99."""
        server_error_rate = api.metric_server_error(statistic="Average", period=FIVE_MINUTES, label="5xx rate")
        client_error_rate = api.metric_client_error(statistic="Average", period=FIVE_MINUTES, label="4xx rate")
        latency_p99 = api.metric_latency(statistic="p99", period=FIVE_MINUTES, label="latency p99")
        errors = function.metric_errors(statistic="Sum", period=FIVE_MINUTES, label="errors")
        throttles = function.metric_throttles(statistic="Sum", period=FIVE_MINUTES, label="throttles")
        duration_p99 = function.metric_duration(statistic="p99", period=FIVE_MINUTES, label="duration p99")
        alarms = [
            self.add_alarm(
                "Api5xxRate",
                metric=server_error_rate,
                threshold=API_5XX_RATE,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                description="More than 1% of ingest requests answered 5xx (503 = the stream refused events; "
                "502 = the Lambda failed). Clients retry, but check the Kinesis and Lambda widgets.",
            ),
            self.add_alarm(
                "Api4xxRate",
                metric=client_error_rate,
                threshold=API_4XX_RATE,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                description="More than 10% of ingest requests answered 4xx for 15 minutes: a client with a "
                "revoked or wrong write key, oversize batches, stage throttling or (wafEnabled) WAF blocks. See the "
                "API access logs (status, errorType, userAgent).",
            ),
            self.add_alarm(
                "ApiLatencyP99",
                metric=latency_p99,
                threshold=API_LATENCY_P99_MS,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                description="Ingest API p99 latency above 2 s for 15 minutes (PutRecords retries, cold starts?).",
            ),
            self.add_alarm(
                "LambdaErrors",
                metric=errors,
                threshold=1,
                description="The ingest Lambda raised (a bug: the handler answers every input). See its logs.",
            ),
            self.add_alarm(
                "LambdaThrottles",
                metric=throttles,
                threshold=1,
                description="The ingest Lambda was throttled (account or reserved concurrency reached); "
                "clients get 429/5xx and retry.",
            ),
            self.add_alarm(
                "LambdaDurationP99",
                metric=duration_p99,
                threshold=timeout.to_milliseconds() * LAMBDA_DURATION_SHARE_OF_TIMEOUT,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                description="Ingest Lambda p99 duration above 80% of its timeout: requests are close to "
                "timing out (stream throttling? quarantine writes?).",
            ),
        ]
        self.add_section(
            "Ingest API",
            alarms=alarms,
            widgets=[
                self.graph(
                    "Requests and errors",
                    api.metric_count(statistic="Sum", period=FIVE_MINUTES, label="requests"),
                    right=[server_error_rate, client_error_rate],
                ),
                self.graph(
                    "Latency",
                    latency_p99,
                    api.metric_integration_latency(statistic="p99", period=FIVE_MINUTES, label="integration p99"),
                ),
                self.graph("Lambda", errors, throttles, right=[duration_p99]),
                self.graph("Events", *(self._service_metric(name) for name in INGEST_EVENT_METRICS)),
                self.graph("PutRecords retries", *(self._service_metric(name) for name in INGEST_PUT_METRICS)),
            ],
        )

    @staticmethod
    def _service_metric(name: str) -> cloudwatch.Metric:
        """A Powertools metric of our Lambdas (namespace and `service` dimension set by CDK env vars)."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": SERVICE_NAME},
            statistic="Sum",
            period=FIVE_MINUTES,
        )

    def monitor_event_stream(self, *, stream: kinesis.IStream, shard_count: int | None) -> None:
        """The stream: consumer lag (iterator age), write throttling, read throttling (Firehose and Flink share each
        shard's 5 reads a second) and, when provisioned (`shard_count`), how much of its write capacity it uses."""
        iterator_age = stream.metric_get_records_iterator_age_milliseconds(
            statistic="Maximum", period=FIVE_MINUTES, label="iterator age max"
        )
        write_throttles = stream.metric_write_provisioned_throughput_exceeded(
            statistic="Sum", period=FIVE_MINUTES, label="write throttles"
        )
        throttled_records = stream.metric_put_records_throttled_records(
            statistic="Sum", period=FIVE_MINUTES, label="PutRecords throttled records"
        )
        read_throttles = stream.metric_read_provisioned_throughput_exceeded(
            statistic="Sum", period=FIVE_MINUTES, label="read throttles"
        )
        incoming_records = stream.metric_incoming_records(statistic="Sum", period=FIVE_MINUTES, label="records")
        incoming_bytes = stream.metric_incoming_bytes(statistic="Sum", period=FIVE_MINUTES, label="bytes")
        alarms = [
            self.add_alarm(
                "StreamIteratorAge",
                metric=iterator_age,
                threshold=STREAM_ITERATOR_AGE_MS,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                description="A stream consumer (Flink or Firehose) is more than 2 minutes behind for 15 "
                "minutes; events expire after the stream's retention.",
            ),
            self.add_alarm(
                "StreamWriteThrottles",
                metric=write_throttles,
                threshold=1,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                description="Kinesis refused writes (WriteProvisionedThroughputExceeded) for 15 minutes: the "
                "ingest handler retried, then answered 503 + Retry-After and clients resend (nothing is lost, "
                "events arrive late). Raise expectedEventsPerSecond (streamMode=auto) or shardCount, or use "
                "streamMode=on-demand.",
            ),
        ]
        widgets: list[cloudwatch.IWidget] = [
            self.graph("Incoming", incoming_records, right=[incoming_bytes]),
            self.graph("Write throttling", write_throttles, throttled_records),
            self.graph("Consumer lag", iterator_age, right=[read_throttles]),
        ]
        if shard_count is not None:
            utilisation = self.stream_write_utilisation(
                incoming_bytes=incoming_bytes, incoming_records=incoming_records, shard_count=shard_count
            )
            alarms.append(
                self.add_alarm(
                    "StreamNearWriteCapacity",
                    metric=utilisation,
                    threshold=STREAM_WRITE_UTILISATION,
                    comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    evaluation_periods=3,
                    datapoints_to_alarm=3,
                    description=f"The stream's {shard_count} shard(s) took more than half their write capacity "
                    "(bytes or records) on average for 15 minutes: bursts will soon be throttled. Raise "
                    "expectedEventsPerSecond (streamMode=auto) or shardCount and deploy.",
                )
            )
            widgets.append(self.graph("Write capacity used", utilisation))
        self.add_section("Event stream", alarms=alarms, widgets=widgets)

    @staticmethod
    def stream_write_utilisation(
        *, incoming_bytes: cloudwatch.IMetric, incoming_records: cloudwatch.IMetric, shard_count: int
    ) -> cloudwatch.MathExpression:
        """The share of a provisioned stream's write capacity used over each five minutes: the larger of bytes
        against 1 MiB/s per shard and records against 1,000/s per shard."""
        seconds = int(FIVE_MINUTES.to_seconds())
        bytes_share = cloudwatch.MathExpression(
            expression=f"bytes / {shard_count * SHARD_WRITE_BYTES_PER_SECOND * seconds}",
            using_metrics={"bytes": incoming_bytes},
            label="share of write bytes",
            period=FIVE_MINUTES,
        )
        records_share = cloudwatch.MathExpression(
            expression=f"records / {shard_count * SHARD_WRITE_RECORDS_PER_SECOND * seconds}",
            using_metrics={"records": incoming_records},
            label="share of write records",
            period=FIVE_MINUTES,
        )
        # MAX of an array of time series is the larger value at each point (one time series, as an alarm needs).
        return cloudwatch.MathExpression(
            expression="MAX([bytesshare, recordsshare])",
            using_metrics={"bytesshare": bytes_share, "recordsshare": records_share},
            label="share of write capacity",
            period=FIVE_MINUTES,
        )

    def add_firehose(
        self,
        *,
        delivery_stream_name: str,
        buffer_interval_seconds: int,
        transform_function: lambda_.IFunction | None = None,
        title: str = "Firehose to the lake",
    ) -> None:
        """A Firehose delivery stream to S3: freshness (alarm at its buffer interval plus a margin), delivery
        success, Parquet conversion failures; with `transform_function`, its processing Lambda's errors, failed
        invocations and the records it answered ProcessingFailed (written to errors/processing-failed/)."""
        freshness_threshold = buffer_interval_seconds + FIREHOSE_FRESHNESS_MARGIN_SECONDS

        def metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
            dimensions = {"DeliveryStreamName": delivery_stream_name}
            return aws_metric(
                namespace="AWS/Firehose", dimensions=dimensions, name=name, statistic=statistic, label=label
            )

        freshness = metric("DeliveryToS3.DataFreshness", "Maximum", "data freshness (s)")
        success = metric("DeliveryToS3.Success", "Average", "S3 delivery success")
        failed_conversion = metric("FailedConversion.Records", "Sum", "records failing Parquet conversion")
        alarms = [
            self.add_alarm(
                "FirehoseFreshness",
                metric=freshness,
                threshold=freshness_threshold,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                description=f"{delivery_stream_name}: the oldest undelivered record is older than "
                f"{freshness_threshold} s (buffer interval + {FIREHOSE_FRESHNESS_MARGIN_SECONDS} s) for 15 minutes.",
            ),
            self.add_alarm(
                "FirehoseDeliveryFailures",
                metric=success,
                threshold=1,
                comparison=LT,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                description=f"{delivery_stream_name}: some deliveries to S3 failed (permissions, KMS?).",
            ),
            self.add_alarm(
                "FirehoseConversionFailures",
                metric=failed_conversion,
                threshold=1,
                description=f"{delivery_stream_name}: records failed Parquet conversion and went to the "
                "error prefix (schema drift between the events and the Glue table?).",
            ),
        ]
        transform_widgets: list[cloudwatch.IWidget] = []
        if transform_function is not None:
            lambda_errors = transform_function.metric_errors(statistic="Sum", period=FIVE_MINUTES, label="errors")
            processing = metric("ExecuteProcessing.Success", "Average", "processing invocations succeeded")
            failed_records = cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=PROCESSING_FAILED_METRIC,
                dimensions_map={"service": SERVICE_NAME},
                statistic="Sum",
                period=FIVE_MINUTES,
                label="records ProcessingFailed",
            )
            alarms += [
                self.add_alarm(
                    "LakeTransformErrors",
                    metric=lambda_errors,
                    threshold=1,
                    description=f"{delivery_stream_name}: the processing Lambda failed (Firehose retries, then "
                    "sends the whole buffer to errors/processing-failed/). Read the Lambda's logs.",
                ),
                self.add_alarm(
                    "FirehoseProcessingFailures",
                    metric=processing,
                    threshold=1,
                    comparison=LT,
                    evaluation_periods=3,
                    datapoints_to_alarm=2,
                    description=f"{delivery_stream_name}: some invocations of the processing Lambda failed.",
                ),
                self.add_alarm(
                    "LakeTransformFailedRecords",
                    metric=failed_records,
                    threshold=1,
                    description=f"{delivery_stream_name}: the processing Lambda answered ProcessingFailed for "
                    "records it could not read (under errors/processing-failed/; the Lambda logs each record id "
                    "and reason). See docs/lake.md, 'Stream records'.",
                ),
            ]
            transform_widgets = [self.graph("Processing Lambda", lambda_errors, failed_records, right=[processing])]
        self.add_section(
            title,
            alarms=alarms,
            widgets=[
                self.graph(
                    "Delivered records",
                    metric("DeliveryToS3.Records", "Sum", "records to S3"),
                    failed_conversion,
                ),
                self.graph("Freshness", freshness),
                self.graph("Delivery success", success),
                *transform_widgets,
            ],
        )

    def add_flink(self, *, application_name: str, title: str = "Flink real-time job") -> None:
        """A Managed Flink application: downtime, failed checkpoints, checkpoint duration, restarts."""

        def metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
            return flink_metric(application_name, name, statistic, label)

        downtime = metric("downtime", "Average", "downtime (ms)")
        failed_checkpoints_total = metric("numberOfFailedCheckpoints", "Maximum", "failed checkpoints (total)")
        # The metric counts since the job started: alarm on its increase, not its level.
        failed_checkpoints = cloudwatch.MathExpression(
            expression="RATE(failed)",
            using_metrics={"failed": failed_checkpoints_total},
            label="failed checkpoints per second",
            period=FIVE_MINUTES,
        )
        checkpoint_duration = metric("lastCheckpointDuration", "Maximum", "last checkpoint duration (ms)")
        alarms = [
            self.add_alarm(
                "FlinkDowntime",
                metric=downtime,
                threshold=1,
                evaluation_periods=2,
                datapoints_to_alarm=2,
                description=f"{application_name}: the Flink job is down (restarting or failed); live panels "
                "stop updating until it recovers from its last checkpoint.",
            ),
            self.add_alarm(
                "FlinkFailedCheckpoints",
                metric=failed_checkpoints,
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                description=f"{application_name}: checkpoints are failing; a restart would replay more.",
            ),
            self.add_alarm(
                "FlinkCheckpointDuration",
                metric=checkpoint_duration,
                threshold=FLINK_CHECKPOINT_DURATION_MS,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                description=f"{application_name}: checkpoints take over a minute (state growth? backpressure?).",
            ),
        ]
        self.add_section(
            title,
            alarms=alarms,
            widgets=[
                self.graph("Availability", downtime, right=[metric("fullRestarts", "Maximum", "full restarts")]),
                self.graph("Checkpoints", checkpoint_duration, right=[failed_checkpoints_total]),
                self.graph(
                    "Resources",
                    metric("cpuUtilization", "Average", "CPU %"),
                    metric("heapMemoryUtilization", "Average", "heap %"),
                ),
            ],
        )
