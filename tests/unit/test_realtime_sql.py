"""The generated Flink SQL: every metric is aggregated, and connectors differ only in the two tables."""

from __future__ import annotations

from featurepulse.realtime import items, metrics, sql
from featurepulse.realtime.settings import RealtimeSettings

SETTINGS = RealtimeSettings(allowed_lateness_s=240, early_fire_delay_ms=1500, dedup_retention_s=7200)


def test_table_config_turns_on_early_and_late_firing_with_the_allowed_lateness():
    config = sql.table_config(SETTINGS)
    assert config["table.exec.emit.early-fire.enabled"] == "true"
    assert config["table.exec.emit.early-fire.delay"] == "1500 ms"
    assert config["table.exec.emit.late-fire.enabled"] == "true"
    assert config["table.exec.emit.allow-lateness"] == "240 s"
    assert config["table.exec.state.ttl"] == "7200 s"
    assert config["table.local-time-zone"] == "UTC"


def test_every_metric_is_aggregated_in_both_windows():
    statements = "\n".join(sql.view_statements(SETTINGS))
    for metric in metrics.METRICS:
        assert statements.count(f"{metric.sql()} AS `{metric.name}`") == 2
    assert "TUMBLE(rowtime, INTERVAL '1' MINUTE)" in statements
    assert "TUMBLE(rowtime, INTERVAL '1' DAY)" in statements
    assert "PARTITION BY source_id, event_id ORDER BY pt ASC" in sql.unique_events_query()


def test_source_and_sink_tables_have_the_same_name_and_columns_in_aws_and_locally():
    kinesis = sql.kinesis_source_ddl(
        stream_arn="arn:aws:kinesis:eu-west-1:1:stream/s", region="eu-west-1", initial_position="TRIM_HORIZON"
    )
    spool = sql.spool_source_ddl(directory_uri="file:///tmp/spool", monitor_interval_ms=500)
    assert kinesis.startswith("CREATE TABLE raw_records (`data` STRING) ")
    assert spool.startswith("CREATE TABLE raw_records (`data` STRING) ")
    assert "'format' = 'raw'" in kinesis
    sink = sql.dynamodb_sink_ddl(table_name="t'1", region="eu-west-1")
    assert "'table-name' = 't''1'" in sink
    assert "PRIMARY KEY (`pk`, `sk`) NOT ENFORCED" in sink
    for name in items.ITEM_COLUMN_NAMES:
        assert f"`{name}` " in sink
