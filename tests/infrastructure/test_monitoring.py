"""Monitoring: alarms of the ingest path notify the encrypted topic; later parts plug in their sections."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from cdk.monitoring import FIREHOSE_FRESHNESS_MARGIN_SECONDS, INGEST_EVENT_METRICS, INGEST_PUT_METRICS, Monitoring
from featurepulse.constants import METRICS_NAMESPACE, SERVICE_NAME
from lambdas.ingest.handler import INGEST_METRIC_NAMES
from tests.infrastructure.conftest import Synthesized


def _metric_of(props: dict[str, Any]) -> dict[str, Any]:
    """An alarm's metric whichever form CloudFormation got (plain metric, labelled metric, expression)."""
    if "MetricName" in props:
        return {
            "name": props["MetricName"],
            "namespace": props["Namespace"],
            "stat": props.get("ExtendedStatistic") or props.get("Statistic"),
            "dimensions": props.get("Dimensions"),
        }
    returned = next(metric for metric in props["Metrics"] if metric.get("ReturnData", True))
    if "Expression" in returned:
        return {"name": returned["Expression"], "inputs": [m for m in props["Metrics"] if m is not returned]}
    stat = returned["MetricStat"]
    return {
        "name": stat["Metric"]["MetricName"],
        "namespace": stat["Metric"]["Namespace"],
        "stat": stat["Stat"],
        "dimensions": stat["Metric"].get("Dimensions"),
    }


def _alarms_by_metric(template: Template) -> dict[str, dict[str, Any]]:
    alarms: dict[str, dict[str, Any]] = {}
    for body in template.find_resources("AWS::CloudWatch::Alarm").values():
        props = body["Properties"]
        metric = _metric_of(props)
        alarms[metric["name"]] = {**props, "metric": metric}
    return alarms


def test_ingest_and_stream_alarms_cover_errors_throttles_latency_and_lag(synthesized: Synthesized) -> None:
    # Given the default stack / When we list its alarms by metric
    alarms = _alarms_by_metric(synthesized.template)
    # Then the ingest path's health signals each have one
    assert set(alarms) >= {
        "5XXError",
        "4XXError",
        "Latency",
        "Errors",
        "Throttles",
        "Duration",
        "GetRecords.IteratorAgeMilliseconds",
        "WriteProvisionedThroughputExceeded",
    }
    assert alarms["5XXError"]["metric"]["namespace"] == "AWS/ApiGateway"
    assert alarms["5XXError"]["Threshold"] == 0.01
    # p99 of the Lambda's duration alarms at 80% of its 10 s timeout
    assert alarms["Duration"]["metric"]["stat"] == "p99"
    assert alarms["Duration"]["Threshold"] == 8000


def test_every_alarm_notifies_the_alarm_topic_on_alarm_and_recovery(synthesized: Synthesized) -> None:
    topic_id, _ = synthesized.resource(synthesized.stack.monitoring.topic)
    for props in _alarms_by_metric(synthesized.template).values():
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        assert props["OKActions"] == [{"Ref": topic_id}]
        assert props["AlarmDescription"]


def test_alarm_topic_requires_tls_and_has_no_subscription_by_default(synthesized: Synthesized) -> None:
    topic_id, _ = synthesized.resource(synthesized.stack.monitoring.topic)
    synthesized.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            },
        },
    )
    subscriptions = synthesized.resources("AWS::SNS::Subscription").values()
    assert [s for s in subscriptions if s["Properties"]["TopicArn"] == {"Ref": topic_id}] == []


def _monitoring(stack: Stack, alarm_email: str | None = None) -> Monitoring:
    return Monitoring(stack, "Monitoring", encryption_key=kms.Key(stack, "Key"), alarm_email=alarm_email)


def test_alarm_email_subscribes_to_the_topic(small_stack: Stack) -> None:
    # Given `-c alarmEmail=ops@example.com` / Then the address gets the alarms by e-mail
    _monitoring(small_stack, "ops@example.com")
    Template.from_stack(small_stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_firehose_section_alarms_on_freshness_delivery_and_conversion(small_stack: Stack) -> None:
    # Given a delivery stream wired by the lake construct, buffering 300 s
    monitoring = _monitoring(small_stack)
    monitoring.add_firehose(delivery_stream_name="lake-delivery", buffer_interval_seconds=300)
    # When synthesized / Then its alarms watch that stream's S3 delivery
    alarms = _alarms_by_metric(Template.from_stack(small_stack))
    assert set(alarms) == {"DeliveryToS3.DataFreshness", "DeliveryToS3.Success", "FailedConversion.Records"}
    for props in alarms.values():
        assert props["metric"]["namespace"] == "AWS/Firehose"
        assert props["metric"]["dimensions"] == [{"Name": "DeliveryStreamName", "Value": "lake-delivery"}]
    assert alarms["DeliveryToS3.DataFreshness"]["Threshold"] == 900
    assert alarms["DeliveryToS3.Success"]["ComparisonOperator"] == "LessThanThreshold"
    assert len(monitoring.alarms) == 3


def test_flink_section_alarms_on_downtime_and_failing_checkpoints(small_stack: Stack) -> None:
    monitoring = _monitoring(small_stack)
    monitoring.add_flink(application_name="realtime-app")
    alarms = _alarms_by_metric(Template.from_stack(small_stack))
    assert set(alarms) == {"downtime", "RATE(failed)", "lastCheckpointDuration"}
    assert alarms["downtime"]["metric"]["namespace"] == "AWS/KinesisAnalytics"
    assert alarms["downtime"]["metric"]["dimensions"] == [{"Name": "Application", "Value": "realtime-app"}]
    # failed checkpoints are a counter since start: the alarm watches its rate
    (failed,) = alarms["RATE(failed)"]["metric"]["inputs"]
    assert failed["MetricStat"]["Metric"]["MetricName"] == "numberOfFailedCheckpoints"
    assert len(monitoring.alarms) == 3


def test_dashboard_graphs_the_events_the_ingest_handler_counts(synthesized: Synthesized) -> None:
    # Given the dashboard / When we read its body / Then it graphs the handler's Powertools metrics
    _, dashboard = synthesized.resource(synthesized.stack.monitoring.dashboard)
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for name in ("AcceptedEvents", "QuarantinedEvents", "FailedRecords"):
        assert f'[\\"{METRICS_NAMESPACE}\\",\\"{name}\\",\\"service\\",\\"{SERVICE_NAME}\\"' in body


def test_dashboard_graphs_every_metric_the_ingest_handler_emits_and_none_it_dropped(synthesized: Synthesized) -> None:
    # Given the handler's declared custom metrics (each billed monthly) and the dashboard body
    _, dashboard = synthesized.resource(synthesized.stack.monitoring.dashboard)
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    graphed = set(re.findall(rf'\\"{METRICS_NAMESPACE}\\",\\"([A-Za-z]+)\\",\\"service\\"', body))
    # Then the dashboard reads every one of them, and none of the duplicates the handler dropped (an empty graph)
    assert set(INGEST_METRIC_NAMES) <= graphed
    assert set(INGEST_EVENT_METRICS + INGEST_PUT_METRICS) == set(INGEST_METRIC_NAMES)
    dropped = {"ClientErrors", "ServerErrors", "RejectedEvents", "PutRecordsCalls", "ThrottledRecords"}
    assert not graphed & dropped


def test_firehose_freshness_alarm_follows_the_buffer_interval(synthesized: Synthesized) -> None:
    # Given the default stack, whose Firehose buffers for lakeBufferIntervalSeconds (900 s)
    alarms = _alarms_by_metric(synthesized.template)
    # Then freshness alarms only past the buffer plus the margin: a full buffer is not an outage
    threshold = alarms["DeliveryToS3.DataFreshness"]["Threshold"]
    assert threshold == synthesized.stack.settings.lake_buffer_interval_seconds + FIREHOSE_FRESHNESS_MARGIN_SECONDS
    assert threshold > 900


def _stream(stack: Stack, shard_count: int | None) -> kinesis.Stream:
    if shard_count is None:
        return kinesis.Stream(stack, "Stream", stream_mode=kinesis.StreamMode.ON_DEMAND)
    return kinesis.Stream(stack, "Stream", stream_mode=kinesis.StreamMode.PROVISIONED, shard_count=shard_count)


def test_provisioned_stream_alarms_before_its_writes_throttle(small_stack: Stack) -> None:
    # Given a provisioned stream of 2 shards
    monitoring = _monitoring(small_stack)
    monitoring.monitor_event_stream(stream=_stream(small_stack, 2), shard_count=2)
    # When synthesized
    alarms = _alarms_by_metric(Template.from_stack(small_stack))
    # Then write throttles and lag alarm, and the capacity alarm takes the larger of the 5-minute sums divided by
    # 2 shards' limits: 2 x 1 MiB/s x 300 s of bytes and 2 x 1,000/s x 300 s of records
    expression = "MAX([bytesshare, recordsshare])"
    assert set(alarms) == {"GetRecords.IteratorAgeMilliseconds", "WriteProvisionedThroughputExceeded", expression}
    capacity = alarms[expression]
    parts = {m["Id"]: m for m in capacity["metric"]["inputs"]}
    assert parts["bytesshare"]["Expression"] == "bytes / 629145600"
    assert parts["recordsshare"]["Expression"] == "records / 600000"
    assert parts["bytes"]["MetricStat"]["Metric"]["MetricName"] == "IncomingBytes"
    assert parts["records"]["MetricStat"]["Metric"]["MetricName"] == "IncomingRecords"
    assert {parts[i]["MetricStat"]["Stat"] for i in ("bytes", "records")} == {"Sum"}
    assert not any(m.get("ReturnData", False) for m in parts.values())
    assert capacity["Threshold"] == 0.5
    assert capacity["ComparisonOperator"] == "GreaterThanThreshold"
    assert (capacity["EvaluationPeriods"], capacity["DatapointsToAlarm"]) == (3, 3)


def test_on_demand_stream_has_no_capacity_alarm_and_graphs_read_throttles(small_stack: Stack) -> None:
    # Given an on-demand stream (no shard count to measure against)
    monitoring = _monitoring(small_stack)
    monitoring.monitor_event_stream(stream=_stream(small_stack, None), shard_count=None)
    template = Template.from_stack(small_stack)
    # Then only lag and write throttles alarm
    assert set(_alarms_by_metric(template)) == {
        "GetRecords.IteratorAgeMilliseconds",
        "WriteProvisionedThroughputExceeded",
    }
    # And the dashboard graphs the read throttles Firehose and Flink cause each other (5 reads/s per shard)
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    assert "ReadProvisionedThroughputExceeded" in json.dumps(dashboard["Properties"]["DashboardBody"])


def test_default_stack_watches_its_provisioned_stream_capacity(synthesized: Synthesized) -> None:
    # Given the default stack (one provisioned shard) / Then the capacity alarm is there, for one shard
    capacity = _alarms_by_metric(synthesized.template)["MAX([bytesshare, recordsshare])"]
    parts = {m["Id"]: m for m in capacity["metric"]["inputs"]}
    assert parts["bytesshare"]["Expression"] == "bytes / 314572800"
    assert parts["recordsshare"]["Expression"] == "records / 300000"


def test_api_alarms_read_api_level_metrics_which_need_no_detailed_metrics(synthesized: Synthesized) -> None:
    # Given the stage publishes no per-method ("detailed", billed) metrics
    _, stage = synthesized.resource(synthesized.stack.ingest_api.stage)
    assert stage["Properties"]["MethodSettings"][0]["MetricsEnabled"] is False
    # Then every API Gateway alarm watches a metric with the ApiName dimension alone, which API Gateway always publishes
    alarms = _alarms_by_metric(synthesized.template)
    api_alarms = [a for a in alarms.values() if a["metric"].get("namespace") == "AWS/ApiGateway"]
    assert {a["metric"]["name"] for a in api_alarms} == {"5XXError", "4XXError", "Latency"}
    for alarm in api_alarms:
        assert [d["Name"] for d in alarm["metric"]["dimensions"]] == ["ApiName"]
