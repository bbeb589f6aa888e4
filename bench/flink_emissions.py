"""The real-time job's output rows, recorded as the AWS DynamoDB sink would receive them (used by
bench/bench_cost_inputs.py; runs in the PyFlink environment, not by `make bench` directly).

    PYTHONPATH=.:flink/app/python .venv-flink/bin/python -m bench.flink_emissions --spool DIR --out FILE \
        --ready-file FILE [--property KEY=VALUE ...]

The aggregation is `featurepulse_flink.job.build_aggregation`, the one Managed Flink runs, fed from a spool
directory like the local job (flink/local). In place of a sink, every row of the changelog the sink would be
given is appended to `--out` as one JSON line `{"t": <unix s>, "kind": <row kind>, "item": {...}}`. The DynamoDB
connector declares an upsert changelog (INSERT, UPDATE_AFTER, DELETE: flink-connector-aws
`DynamoDbDynamicSink.getChangelogMode`), so the planner never gives it UPDATE_BEFORE; the bench counts the
others as the sink's writes.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO

from featurepulse_flink.job import build_aggregation
from pyflink.common import Configuration, Row
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import MapFunction, RuntimeContext, SinkFunction
from pyflink.table import StreamTableEnvironment

from featurepulse.realtime import items, sql
from featurepulse.realtime.settings import RealtimeSettings


class RecordRows(MapFunction):  # type: ignore[misc]
    """Append each changelog row to a JSON Lines file, with the wall-clock time it reached the sink."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._out: IO[str] | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self._out = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def close(self) -> None:
        if self._out is not None:
            self._out.close()

    def map(self, value: Row) -> int:
        assert self._out is not None
        item = dict(zip(items.ITEM_COLUMN_NAMES, value, strict=True))
        line = {"t": time.time(), "kind": value.get_row_kind().name, "item": item}
        self._out.write(json.dumps(line, default=str) + "\n")
        self._out.flush()
        return 1


def build(spool: Path, out: Path, settings: RealtimeSettings) -> StreamExecutionEnvironment:
    config = Configuration()
    config.set_string("python.executable", sys.executable)
    config.set_string("python.client.executable", sys.executable)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(1)
    env.get_config().set_auto_watermark_interval(200)
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(sql.spool_source_ddl(directory_uri=spool.resolve().as_uri(), monitor_interval_ms=200))
    all_items = build_aggregation(env, t_env, settings)
    (
        t_env.to_changelog_stream(all_items)
        .map(RecordRows(str(out)))
        .name("record rows")
        .add_sink(SinkFunction("org.apache.flink.streaming.api.functions.sink.DiscardingSink"))
    )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    settings = RealtimeSettings.from_properties(dict(p.split("=", 1) for p in args.property))
    args.spool.mkdir(parents=True, exist_ok=True)
    env = build(args.spool, args.out, settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    client = env.execute_async("featurepulse-realtime (bench: emitted rows)")
    args.ready_file.write_text(str(client.get_job_id()))
    while not stop.wait(0.5):
        if client.get_job_status().result().is_globally_terminal_state():
            return 1
    client.cancel().result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
