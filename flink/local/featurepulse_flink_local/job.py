"""The real-time job on this machine: PyFlink's mini-cluster, a spool-directory source, a boto3 sink.

    PYTHONPATH=.:flink/app/python:flink/local .venv-flink/bin/python -m featurepulse_flink_local.job \
        --spool DIR --table NAME --endpoint-url URL

The local runtime (featurepulse/local/realtime.py) reads the moto Kinesis stream and drops each batch of
records into the spool directory as one JSON file of `{"data": "<record>"}` lines (written under a dot-name,
then renamed, so the job never reads half a file). The sink writes each upsert with PutItem: the same items
the DynamoDB connector writes in AWS, attribute for attribute; like the connector with `sink.ignore-nulls`
(featurepulse/realtime/sql.py), a None attribute is left out, never written as NULL.

Checkpointing is off by default (the demo does not need it). `--checkpoint-dir DIR` turns on periodic
checkpoints to the file system, retained when the job is cancelled or killed, like Managed Flink's; and
`--restore-from DIR/<job id>/chk-N` starts the job from one of them (the soak, featurepulse/local/soak.py,
kills the job and restarts it this way). The spool source is Flink's file source: its checkpoint holds the
files it has already read and its position in the current one, so a restored job neither re-reads nor skips
a record; the de-duplication state is in the checkpoint too.

The file source hands the files it has found but not yet read to its reader in no particular order (its split
assigner is a stack: after a restart or while the job lags, the newest file came first, and the person counters
of featurepulse/realtime/persons.py depend on the order in which identity links arrive). So that the job reads
the spool in the order it was written, like a Kinesis consumer reads a shard, `--read-marker FILE` makes the job
write the name of each spool file it starts reading into FILE; the feeder writes the next file only once the job
has started on the previous one, so at most one file ever waits (featurepulse/realtime/local.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from featurepulse_flink.job import build_aggregation
from pyflink.common import Configuration, Row
from pyflink.common.typeinfo import Types
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import MapFunction, RuntimeContext, SinkFunction
from pyflink.table import StreamTableEnvironment

from featurepulse.realtime import items, sql
from featurepulse.realtime.settings import RealtimeSettings

_SKIPPED_KINDS = {"UPDATE_BEFORE"}
SPOOL_FILES = "spool_files"  # the spool source with each record's file, when the job marks what it reads


def spool_files_ddl(*, directory_uri: str, monitor_interval_ms: int) -> str:
    """The spool source of `sql.spool_source_ddl` plus the file each record comes from (`file.path` metadata)."""
    raw = sql.spool_source_ddl(directory_uri=directory_uri, monitor_interval_ms=monitor_interval_ms)
    head = f"CREATE TABLE {sql.RAW_RECORDS} (`data` STRING)"
    if not raw.startswith(head):
        raise ValueError(f"unexpected spool source DDL: {raw[:80]}")
    columns = "(`data` STRING, `file_path` STRING NOT NULL METADATA FROM 'file.path' VIRTUAL)"
    return f"CREATE TABLE {SPOOL_FILES} {columns}" + raw[len(head) :]


class MarkSpoolFileRead(MapFunction):  # type: ignore[misc]
    """Passes each record's `data` on; when a record comes from a new file, writes that file's name into the
    marker (written under a temporary name, then renamed: the feeder never reads half a name)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self._current: str | None = None

    def map(self, value: Row) -> Row:
        data, file_path = value[0], value[1]
        name = Path(str(file_path)).name
        if name != self._current:
            self._current = name
            tmp = Path(self.marker).with_name(Path(self.marker).name + ".tmp")
            tmp.write_text(name, encoding="utf-8")
            tmp.replace(self.marker)
        return Row(data)


class DynamoDbItemWriter(MapFunction):  # type: ignore[misc]
    """Upserts the items like the DynamoDB connector does in AWS: buffered, the last version of each key only,
    written with BatchWriteItem (25 per request) by a flusher every `flush_interval_s`."""

    def __init__(self, table_name: str, endpoint_url: str | None, region: str, flush_interval_s: float = 0.2) -> None:
        self.table_name = table_name
        self.endpoint_url = endpoint_url
        self.region = region
        self.flush_interval_s = flush_interval_s
        self._client: Any = None
        self._serializer: Any = None
        # Threads and locks are made in open(): the function is pickled to the Python worker before that.
        self._lock: Any = None
        self._stop: Any = None
        self._flusher: threading.Thread | None = None
        self._pending: dict[tuple[str, str], dict[str, Any] | None] = {}  # None: delete
        self._written: dict[tuple[str, str], dict[str, Any]] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        import boto3
        from boto3.dynamodb.types import TypeSerializer

        self._client = boto3.session.Session(region_name=self.region).client("dynamodb", endpoint_url=self.endpoint_url)
        self._serializer = TypeSerializer()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_periodically, name="dynamodb-flusher", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        if self._stop is None:
            return
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=10)
        self.flush()

    def map(self, value: Row) -> int:
        kind = value.get_row_kind().name
        if kind in _SKIPPED_KINDS:
            return 0
        item = dict(zip(items.ITEM_COLUMN_NAMES, value, strict=True))
        with self._lock:
            self._pending[(item[items.PK], item[items.SK])] = None if kind == "DELETE" else item
        return 1

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush()
            except Exception as exc:  # moto stopping: keep the items and retry on the next tick
                print(f"featurepulse-realtime: write failed, will retry: {exc}", file=sys.stderr, flush=True)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        requests = []
        for key, item in pending.items():
            if item is None:
                requests.append({"DeleteRequest": {"Key": {items.PK: {"S": key[0]}, items.SK: {"S": key[1]}}}})
            elif self._written.get(key) != item:
                serialized = {k: self._serializer.serialize(v) for k, v in item.items() if v is not None}
                requests.append({"PutRequest": {"Item": serialized}})
        try:
            for start in range(0, len(requests), 25):
                batch = requests[start : start + 25]
                while batch:
                    answer = self._client.batch_write_item(RequestItems={self.table_name: batch})
                    batch = answer.get("UnprocessedItems", {}).get(self.table_name, [])
        except Exception:
            with self._lock:  # put back what was not written, unless a newer version arrived meanwhile
                for key, item in pending.items():
                    self._pending.setdefault(key, item)
            raise
        for key, item in pending.items():
            if item is None:
                self._written.pop(key, None)
            else:
                self._written[key] = item


def build_local_job(
    *,
    spool_dir: Path,
    table_name: str,
    endpoint_url: str | None,
    region: str,
    settings: RealtimeSettings,
    monitor_interval_ms: int = 500,
    parallelism: int = 1,
    checkpoint_dir: Path | None = None,
    checkpoint_interval_ms: int = 2000,
    restore_from: Path | None = None,
    read_marker: Path | None = None,
) -> StreamExecutionEnvironment:
    config = Configuration()
    if checkpoint_dir is not None:
        config.set_string("execution.checkpointing.interval", f"{checkpoint_interval_ms} ms")
        config.set_string("execution.checkpointing.dir", checkpoint_dir.resolve().as_uri())
        config.set_string("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    if restore_from is not None:
        # Every operator of the checkpoint must find its operator again: no `allowNonRestoredState`.
        config.set_string("execution.state-recovery.path", restore_from.resolve().as_uri())
    # The Python workers must run this interpreter (the PyFlink venv), not whatever `python` is on PATH.
    config.set_string("python.executable", sys.executable)
    config.set_string("python.client.executable", sys.executable)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(parallelism)
    env.get_config().set_auto_watermark_interval(200)
    t_env = StreamTableEnvironment.create(env)
    directory_uri = spool_dir.resolve().as_uri()
    if read_marker is None:
        t_env.execute_sql(sql.spool_source_ddl(directory_uri=directory_uri, monitor_interval_ms=monitor_interval_ms))
    else:
        t_env.execute_sql(spool_files_ddl(directory_uri=directory_uri, monitor_interval_ms=monitor_interval_ms))
        records = (
            t_env.to_data_stream(t_env.from_path(SPOOL_FILES))
            .map(
                MarkSpoolFileRead(str(read_marker.resolve())),
                output_type=Types.ROW_NAMED(["data"], [Types.STRING()]),
            )
            .name("mark spool files read")
            .uid("mark-spool-files-read")
        )
        t_env.create_temporary_view(sql.RAW_RECORDS, t_env.from_data_stream(records))
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
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="checkpoint to this directory")
    parser.add_argument("--checkpoint-interval-ms", type=int, default=2000)
    parser.add_argument("--restore-from", type=Path, default=None, help="a retained checkpoint (chk-N) to start from")
    parser.add_argument("--read-marker", type=Path, default=None, help="write the name of each spool file read here")
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
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_interval_ms=args.checkpoint_interval_ms,
        restore_from=args.restore_from,
        read_marker=args.read_marker,
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
