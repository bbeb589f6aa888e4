"""The job's Flink SQL, generated from the metric and dimension definitions (featurepulse/realtime/metrics.py).

The aggregation below is the same in AWS and locally. Only two tables differ: `raw_records` (one row per
stream record, column `data` = the record's bytes as ISO-8859-1 text: gzip JSON Lines) and the sink
`aggregates`. Between them:

    raw_records -> (Python) unpack + per-event window arithmetic -> `events` (rowtime, watermark)
      -> unique_events   de-duplication on (source_id, event_id), first arrival wins (materialized: one for
                         all branches)
      -> on_time_events / late_events   split on CURRENT_WATERMARK, by the same rule the windows apply
      -> engagement      one row per (event, dimension): feature, campaign, variant, app
      -> minute and day TUMBLE windows with early firing, allowed lateness, late firing
      -> (Python) item building -> aggregates (upserts keyed by pk, sk)
"""

from __future__ import annotations

from featurepulse.realtime import items, metrics
from featurepulse.realtime.settings import RealtimeSettings

RAW_RECORDS = "raw_records"
EVENTS = "events"
AGGREGATES_SINK = "aggregates"

UDF_BUILD_ITEM = "fp_build_item"
UDF_BUILD_DIRECTORY_ITEM = "fp_build_directory_item"
UDF_BUILD_LATE_ITEM = "fp_build_late_item"
UDF_COUNT_LATE_EVENT = "fp_count_late_event"  # returns 1 and counts the event in the `lateEvents` metric

# Columns of `events` (what the Python unpack step emits), in order, with their SQL types.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_id", "STRING"),  # with event_id, the key of the de-duplication (a messageId is unique per source)
    ("event_id", "STRING"),
    ("event_time_ms", "BIGINT"),
    ("person_key", "STRING"),  # featurepulse/realtime/persons.py
    ("feature", "STRING"),
    ("stage", "STRING"),
    ("campaign", "STRING"),
    ("experiment_id", "STRING"),
    ("variation_id", "STRING"),
    ("duration_ms", "BIGINT"),
    ("duration_bucket", "INT"),
    ("minute_start_ms", "BIGINT"),
    ("day_start_ms", "BIGINT"),
    ("late_after_ms", "BIGINT"),
)
EVENT_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in EVENT_COLUMNS)
# Computed on `events` when the stream becomes a table: event time, its watermark, and arrival order.
ROWTIME_EXPRESSION = "TO_TIMESTAMP_LTZ(event_time_ms, 3)"
PROCTIME_EXPRESSION = "PROCTIME()"


def watermark_expression(settings: RealtimeSettings) -> str:
    return f"rowtime - INTERVAL '{settings.out_of_orderness_s}' SECOND"


def table_config(settings: RealtimeSettings) -> dict[str, str]:
    """Table options of the job. Early/late firing and allowed lateness apply to the group windows."""
    return {
        # Day windows and keys are UTC days, like the lake's dt= partitions.
        "table.local-time-zone": "UTC",
        "table.exec.emit.early-fire.enabled": "true",
        "table.exec.emit.early-fire.delay": f"{settings.early_fire_delay_ms} ms",
        "table.exec.emit.late-fire.enabled": "true",
        "table.exec.emit.late-fire.delay": "0 s",
        "table.exec.emit.allow-lateness": f"{settings.allowed_lateness_s} s",
        # State of the de-duplication (per source and event id). Windows clean up on event time instead.
        "table.exec.state.ttl": f"{settings.dedup_retention_s} s",
        "table.exec.source.idle-timeout": f"{settings.idle_timeout_s} s",
    }


_LATE_CONDITION = (
    "CURRENT_WATERMARK(rowtime) IS NOT NULL AND TO_TIMESTAMP_LTZ(late_after_ms, 3) <= CURRENT_WATERMARK(rowtime)"
)


UNIQUE_EVENTS = "unique_events"


def unique_events_query() -> str:
    """Keep-first-row de-duplication on (source_id, event_id) by arrival (processing) time: append-only, rowtime kept.

    The job materializes its result as the table `unique_events` (a stream in between), so that the one
    de-duplication feeds every branch below; as a view, the planner would push each branch's projection
    into it and run one de-duplication (and its state) per branch.
    """
    # The time attribute travels along (as `event_rowtime`): converting to a stream sets each record's timestamp
    # from it; the table made from that stream declares `rowtime` from the record timestamp again.
    columns = ", ".join(EVENT_COLUMN_NAMES)
    return (
        f"SELECT {columns}, rowtime AS event_rowtime FROM (SELECT *, "
        "ROW_NUMBER() OVER (PARTITION BY source_id, event_id ORDER BY pt ASC) AS row_num "
        f"FROM {EVENTS}) WHERE row_num = 1"
    )


def view_statements(settings: RealtimeSettings) -> list[str]:
    """`CREATE TEMPORARY VIEW` statements from `unique_events` (with its rowtime) to `all_items`, in order."""
    engagement_branches = [
        f"SELECT '{d.name}' AS dimension, {d.sql_feature} AS feature, {d.sql_a} AS value_a, "
        f"{d.sql_b} AS value_b, person_key, stage, duration_ms, duration_bucket, minute_start_ms, day_start_ms, "
        f"rowtime FROM on_time_events WHERE {d.sql_where}"
        for d in metrics.DIMENSIONS
    ]
    counters = ", ".join(f"`{m.name}`" for m in metrics.COUNTERS)
    buckets = ", ".join(f"`{m.name}`" for m in metrics.HISTOGRAM)
    item_args = (
        f"granularity, dimension, feature, value_a, value_b, window_start_ms, ARRAY[{counters}], ARRAY[{buckets}]"
    )
    item_fields = ", ".join(f"t.item.`{name}` AS `{name}`" for name in items.ITEM_COLUMN_NAMES)
    return [
        # The filter runs downstream of the de-duplication and upstream of the windows, so its watermark is
        # never behind theirs: every event lands either in its windows or in the late count, never both.
        f"CREATE TEMPORARY VIEW on_time_events AS SELECT * FROM unique_events WHERE NOT ({_LATE_CONDITION})",
        f"CREATE TEMPORARY VIEW late_events AS SELECT * FROM unique_events WHERE {_LATE_CONDITION}",
        "CREATE TEMPORARY VIEW engagement AS " + " UNION ALL ".join(engagement_branches),
        "CREATE TEMPORARY VIEW window_aggregates AS "
        + _window_select(metrics.GRANULARITY_MINUTE, "minute_start_ms", "MINUTE")
        + " UNION ALL "
        + _window_select(metrics.GRANULARITY_DAY, "day_start_ms", "DAY"),
        # Late events per day of event time. A plain (non-window) aggregate: late events are behind the
        # watermark by definition. Its state is kept `late_state_retention_s` after the last update.
        f"CREATE TEMPORARY VIEW late_counts AS SELECT /*+ STATE_TTL('late_events' = "
        f"'{settings.late_state_retention_s} s') */ day_start_ms, "
        f"CAST(SUM({UDF_COUNT_LATE_EVENT}(event_id)) AS BIGINT) AS late_events "
        "FROM late_events GROUP BY day_start_ms",
        "CREATE TEMPORARY VIEW all_items AS SELECT "
        + item_fields
        + " FROM ("
        + f"SELECT {UDF_BUILD_ITEM}({item_args}) AS item FROM window_aggregates"
        # The directory copy of each feature's day row. Its function returns NULL for every other row: a filter
        # on the window's own columns would be pushed below the window and run a second day window for it.
        + f" UNION ALL SELECT item FROM (SELECT {UDF_BUILD_DIRECTORY_ITEM}({item_args}) AS item "
        "FROM window_aggregates) WHERE item IS NOT NULL"
        + f" UNION ALL SELECT {UDF_BUILD_LATE_ITEM}(day_start_ms, late_events) AS item FROM late_counts"
        + ") AS t",
    ]


def _window_select(granularity: str, start_column: str, unit: str) -> str:
    aggregates = ", ".join(f"{m.sql()} AS `{m.name}`" for m in metrics.METRICS)
    return (
        f"SELECT '{granularity}' AS granularity, dimension, feature, value_a, value_b, "
        f"{start_column} AS window_start_ms, {aggregates} FROM engagement "
        f"GROUP BY dimension, feature, value_a, value_b, {start_column}, TUMBLE(rowtime, INTERVAL '1' {unit})"
    )


_SQL_TYPES = {"string": "STRING", "bigint": "BIGINT", "map": "MAP<STRING, STRING>"}


def item_columns_sql() -> str:
    return ", ".join(f"`{name}` {_SQL_TYPES[kind]}" for name, kind in items.ITEM_COLUMNS)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _with(options: dict[str, str]) -> str:
    return "WITH (" + ", ".join(f"{_quote(k)} = {_quote(v)}" for k, v in options.items()) + ")"


# The text form of a record's bytes in the `data` column (AWS source and local spool alike): byte n <-> U+00nn.
RECORD_CHARSET = "ISO-8859-1"


def kinesis_source_ddl(*, stream_arn: str, region: str, initial_position: str) -> str:
    """AWS source: the Kinesis connector (flink-sql-connector-kinesis 5.x), one row per record, its raw bytes.

    Records are gzip (featurepulse/domain/packing.py): ISO-8859-1 maps every byte to one character and back, so
    the job encodes the text back to the exact bytes (featurepulse_flink/job.py); UTF-8 would mangle them."""
    options = {
        "connector": "kinesis",
        "stream.arn": stream_arn,
        "aws.region": region,
        "source.init.position": initial_position,
        "format": "raw",
        "raw.charset": RECORD_CHARSET,
    }
    return f"CREATE TABLE {RAW_RECORDS} (`data` STRING) {_with(options)}"


def spool_source_ddl(*, directory_uri: str, monitor_interval_ms: int) -> str:
    """Local source: JSON files `{"data": "<record>"}` dropped into a directory the job watches (the record's bytes
    as ISO-8859-1 text, like the AWS source's `raw.charset`)."""
    options = {
        "connector": "filesystem",
        "path": directory_uri,
        "format": "json",
        "source.monitor-interval": f"{monitor_interval_ms} ms",
    }
    return f"CREATE TABLE {RAW_RECORDS} (`data` STRING) {_with(options)}"


def dynamodb_sink_ddl(*, table_name: str, region: str) -> str:
    """AWS sink: the DynamoDB connector (flink-sql-connector-dynamodb 5.x) in upsert mode on (pk, sk).

    PARTITIONED BY makes the connector keep only the last write per key within a batch (BatchWriteItem
    refuses two writes of one key), which is also the right semantics for early-fired updates.

    `sink.ignore-nulls` (connector option, default false) leaves a NULL column out of the item instead of writing
    a NULL attribute. Each write is a whole-item put, so an absent attribute reads as NULL, as before; the panels
    read the columns through an explicit Glue schema (cdk/quicksight.py), never by sampling items.
    """
    options = {
        "connector": "dynamodb",
        "table-name": table_name,
        "aws.region": region,
        # The connector buffers up to 5 s by default: half a second keeps the panels within seconds.
        "sink.flush-buffer.timeout": "500",
        "sink.ignore-nulls": "true",
    }
    return (
        f"CREATE TABLE {AGGREGATES_SINK} ({item_columns_sql()}, PRIMARY KEY (`{items.PK}`, `{items.SK}`) NOT ENFORCED) "
        f"PARTITIONED BY (`{items.PK}`, `{items.SK}`) {_with(options)}"
    )
