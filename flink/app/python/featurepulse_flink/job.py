"""Build the aggregation (the part that is identical in AWS and locally).

`build_aggregation` takes a table environment where `raw_records` (column `data`: one packed stream record)
already exists, and returns the `all_items` table: upserts of the aggregates table keyed by (pk, sk).
The caller attaches the sink: the DynamoDB connector in AWS (`main.py`), a boto3 writer locally
(`local_job.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import FlatMapFunction, RuntimeContext
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from featurepulse.realtime import items, metrics, sql
from featurepulse.realtime.events import UnreadableEventError, unpack_engagement
from featurepulse.realtime.persons import LivePersons
from featurepulse.realtime.settings import RealtimeSettings
from featurepulse.realtime.windows import day_start_ms, late_after_ms, minute_start_ms

# Custom metrics land in CloudWatch (AWS/KinesisAnalytics) when their group is named `kinesisanalytics`. Managed
# Flink turns every other user-scope group into a CloudWatch dimension, and adds Task/Operator/Parallelism
# dimensions above the APPLICATION metrics level: the counters below sit directly in this group, so at the
# APPLICATION level (cdk/realtime.py) their only dimension is `Application`, which is what the alarms select.
METRIC_GROUP = "kinesisanalytics"
# Every planner operator gets an explicit uid `<node id>_<transformation>` (e.g. `7_deduplicate`),
# the same in every process for the same job, so a snapshot maps back onto an unchanged job whatever the
# chaining or parallelism. Node ids count up along the plan: a change that adds or removes a node shifts the
# uids after it, and a snapshot no longer restores (docs/realtime.md, "Upgrading the Flink application safely";
# tests/deploy/test_flink_artifact.py pins the uids of the stateful operators).
UID_GENERATION = {"table.exec.uid.generation": "ALWAYS"}
UNPACK_UID = "unpack-events"

_TYPE_INFO = {"STRING": Types.STRING(), "BIGINT": Types.LONG(), "INT": Types.INT()}
_DATA_TYPES = {
    "string": DataTypes.STRING(),
    "bigint": DataTypes.BIGINT(),
    "map": DataTypes.MAP(DataTypes.STRING(), DataTypes.STRING()),
}
ITEM_ROW_TYPE = DataTypes.ROW([DataTypes.FIELD(name, _DATA_TYPES[kind]) for name, kind in items.ITEM_COLUMNS])


class UnpackRecords(FlatMapFunction):  # type: ignore[misc]
    """One stream record -> its events, with each event's person and the window arithmetic the SQL needs.

    Persons come from the identity links this subtask has seen so far, kept in the operator (bounded, not in
    Flink state: lost on restart); the daily batch correction makes the day rows exact (docs/realtime.md,
    "Live persons and the daily correction").
    """

    def __init__(self, settings: RealtimeSettings) -> None:
        self.settings = settings
        self.unreadable: Any = None
        self.events_in: Any = None
        self.persons = LivePersons()

    def open(self, runtime_context: RuntimeContext) -> None:
        group = runtime_context.get_metrics_group().add_group(METRIC_GROUP)
        self.unreadable = group.counter("unreadableEvents")
        self.events_in = group.counter("eventsUnpacked")

    def flat_map(self, value: Row) -> Iterator[Row]:
        lateness_ms = self.settings.allowed_lateness_ms
        for event in unpack_engagement((value[0] or "").encode(sql.RECORD_CHARSET)):
            if isinstance(event, UnreadableEventError):
                # Never expected (the ingest validated every event); counted, and the rest of the record kept.
                self.unreadable.inc()
                continue
            self.events_in.inc()
            event = self.persons.resolve(event)
            t = event.event_time_ms
            yield Row(
                event.source_id,
                event.event_id,
                t,
                event.person_key,
                event.feature,
                event.stage,
                event.campaign,
                event.experiment_id,
                event.variation_id,
                event.duration_ms,
                event.duration_bucket,
                minute_start_ms(t),
                day_start_ms(t),
                late_after_ms(t, lateness_ms),
            )


class CountLateEvent(ScalarFunction):  # type: ignore[misc]
    """1 per late event, counted in the `lateEvents` metric (CloudWatch in AWS) on the way to the late rows."""

    def __init__(self) -> None:
        self.counter: Any = None

    def open(self, function_context: FunctionContext) -> None:
        self.counter = function_context.get_metric_group().add_group(METRIC_GROUP).counter("lateEvents")

    def eval(self, event_id: str) -> int:
        self.counter.inc()
        return 1

    def is_deterministic(self) -> bool:
        return False  # a side effect (the metric): never constant-fold or reorder it


def _row(item: dict[str, Any]) -> Row:
    return Row(*(item[name] for name in items.ITEM_COLUMN_NAMES))


def _window_item(settings: RealtimeSettings, args: tuple[Any, ...]) -> dict[str, Any]:
    """Arguments as the SQL passes them: granularity, dimension, feature, value_a, value_b, window start,
    ARRAY[counters in metrics.COUNTER_NAMES order], ARRAY[histogram buckets]."""
    granularity, dimension, feature, value_a, value_b, start, counters, buckets = args
    return items.build_item(
        granularity=granularity,
        dimension=dimension,
        feature=feature,
        value_a=value_a,
        value_b=value_b,
        window_start_ms=start,
        counters=dict(zip(metrics.COUNTER_NAMES, counters, strict=True)),
        duration_histogram=list(buckets),
        settings=settings,
    )


def register_functions(t_env: StreamTableEnvironment, settings: RealtimeSettings) -> None:
    """The item-building functions the SQL calls (featurepulse/realtime/items.py)."""

    def build_item(*args: Any) -> Row:
        return _row(_window_item(settings, args))

    def build_directory_item(*args: Any) -> Row | None:
        granularity, dimension = args[0], args[1]
        if granularity != metrics.GRANULARITY_DAY or dimension != metrics.DIM_FEATURE:
            return None
        return _row(items.directory_item(_window_item(settings, args)))

    def build_late_item(day_start: int, late_events: int) -> Row:
        return _row(items.build_late_item(day_start_ms=day_start, late_events=late_events, settings=settings))

    t_env.create_temporary_function(sql.UDF_BUILD_ITEM, udf(build_item, result_type=ITEM_ROW_TYPE))
    t_env.create_temporary_function(sql.UDF_BUILD_DIRECTORY_ITEM, udf(build_directory_item, result_type=ITEM_ROW_TYPE))
    t_env.create_temporary_function(sql.UDF_BUILD_LATE_ITEM, udf(build_late_item, result_type=ITEM_ROW_TYPE))
    t_env.create_temporary_function(sql.UDF_COUNT_LATE_EVENT, udf(CountLateEvent(), result_type=DataTypes.BIGINT()))


def configure(t_env: StreamTableEnvironment, settings: RealtimeSettings) -> None:
    config = t_env.get_config()
    for key, value in {**sql.table_config(settings), **UID_GENERATION}.items():
        config.set(key, value)


def build_aggregation(
    env: StreamExecutionEnvironment, t_env: StreamTableEnvironment, settings: RealtimeSettings
) -> Table:
    """From `raw_records` to `all_items` (see featurepulse/realtime/sql.py for the steps)."""
    configure(t_env, settings)
    names = list(sql.EVENT_COLUMN_NAMES)
    row_type = Types.ROW_NAMED(names, [_TYPE_INFO[t] for _, t in sql.EVENT_COLUMNS])
    records = t_env.to_data_stream(t_env.from_path(sql.RAW_RECORDS))
    events = records.flat_map(UnpackRecords(settings), output_type=row_type).name("unpack events").uid(UNPACK_UID)
    schema = (
        Schema.new_builder()
        .column_by_expression("rowtime", sql.ROWTIME_EXPRESSION)
        .column_by_expression("pt", sql.PROCTIME_EXPRESSION)
        .watermark("rowtime", sql.watermark_expression(settings))
        .build()
    )
    t_env.create_temporary_view(sql.EVENTS, t_env.from_data_stream(events, schema))
    # One de-duplication for every branch: Table -> stream -> Table keeps the planner from copying it into each
    # branch. The stream records carry the rowtime as their timestamp and the watermarks flow through.
    unique = t_env.to_data_stream(t_env.sql_query(sql.unique_events_query()))
    unique_schema = (
        Schema.new_builder()
        .column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
        .watermark("rowtime", "SOURCE_WATERMARK()")
        .build()
    )
    t_env.create_temporary_view(sql.UNIQUE_EVENTS, t_env.from_data_stream(unique, unique_schema))
    register_functions(t_env, settings)
    for statement in sql.view_statements(settings):
        t_env.execute_sql(statement)
    return t_env.from_path("all_items")
