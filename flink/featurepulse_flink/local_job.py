"""The real-time job on this machine: PyFlink's mini-cluster, a spool-directory source, a boto3 sink.

    .venv-flink/bin/python -m featurepulse_flink.local_job --spool DIR --table NAME --endpoint-url URL

The local runtime (featurepulse/local/realtime.py) reads the moto Kinesis stream and drops each batch of
records into the spool directory as one JSON file of `{"data": "<record>"}` lines (written under a dot-name,
then renamed, so the job never reads half a file). The sink writes each upsert with PutItem: the same items
the DynamoDB connector writes in AWS, attribute for attribute (nulls included, as NULL attributes).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pyflink.common import Configuration, Row
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import MapFunction, RuntimeContext, SinkFunction
from pyflink.table import StreamTableEnvironment

from featurepulse.realtime import items, sql
from featurepulse.realtime.settings import RealtimeSettings
from featurepulse_flink.job import build_aggregation

_SKIPPED_KINDS = {"UPDATE_BEFORE"}


class DynamoDbItemWriter(MapFunction):  # type: ignore[misc]
    """Upserts each item (PutItem); skips a write when the item is unchanged since the last one."""

    def __init__(self, table_name: str, endpoint_url: str | None, region: str) -> None:
        self.table_name = table_name
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None
        self._serializer: Any = None
        self._last: dict[tuple[str, str], dict[str, Any]] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        import boto3
        from boto3.dynamodb.types import TypeSerializer

        self._client = boto3.session.Session(region_name=self.region).client("dynamodb", endpoint_url=self.endpoint_url)
        self._serializer = TypeSerializer()

    def map(self, value: Row) -> int:
        kind = value.get_row_kind().name
        if kind in _SKIPPED_KINDS:
            return 0
        item = dict(zip(items.ITEM_COLUMN_NAMES, value, strict=True))
        key = (item[items.PK], item[items.SK])
        if kind == "DELETE":
            self._client.delete_item(TableName=self.table_name, Key={items.PK: {"S": key[0]}, items.SK: {"S": key[1]}})
            self._last.pop(key, None)
            return 1
        if self._last.get(key) == item:
            return 0
        self._client.put_item(
            TableName=self.table_name, Item={k: self._serializer.serialize(v) for k, v in item.items()}
        )
        self._last[key] = item
        return 1


def build_local_job(
    *,
    spool_dir: Path,
    table_name: str,
    endpoint_url: str | None,
    region: str,
    settings: RealtimeSettings,
    monitor_interval_ms: int = 500,
    parallelism: int = 1,
) -> StreamExecutionEnvironment:
    config = Configuration()
    # The Python workers must run this interpreter (the PyFlink venv), not whatever `python` is on PATH.
    config.set_string("python.executable", sys.executable)
    config.set_string("python.client.executable", sys.executable)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(parallelism)
    env.get_config().set_auto_watermark_interval(200)
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(
        sql.spool_source_ddl(directory_uri=spool_dir.resolve().as_uri(), monitor_interval_ms=monitor_interval_ms)
    )
    all_items = build_aggregation(env, t_env, settings)
    (
        t_env.to_changelog_stream(all_items)
        .map(DynamoDbItemWriter(table_name, endpoint_url, region))
        .name("write items (boto3)")
        .add_sink(SinkFunction("org.apache.flink.streaming.api.functions.sink.DiscardingSink"))
    )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--ready-file", type=Path, default=None, help="touched once the job is running")
    args = parser.parse_args(argv)
    properties = dict(p.split("=", 1) for p in args.property)
    settings = RealtimeSettings.from_properties(properties)
    args.spool.mkdir(parents=True, exist_ok=True)
    env = build_local_job(
        spool_dir=args.spool,
        table_name=args.table,
        endpoint_url=args.endpoint_url,
        region=args.region,
        settings=settings,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    client = env.execute_async("featurepulse-realtime (local)")
    if args.ready_file is not None:
        args.ready_file.write_text(str(client.get_job_id()))
    print(f"featurepulse-realtime: job {client.get_job_id()} running", flush=True)
    while not stop.wait(0.5):
        status = client.get_job_status().result()
        if status.is_globally_terminal_state():
            print(f"featurepulse-realtime: job ended: {status}", flush=True)
            return 1
    client.cancel().result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
