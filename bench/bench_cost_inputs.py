"""Cost inputs: what the cost model (featurepulse/cost/) multiplies by prices, measured on the real code paths.

Workload (the GAP reference's): 100 events/s of about 1 KB, sent in requests of 100 events. A request is one
client's batch (one SDK flush: one user, one device, one context), its events spread over the
`SPREAD_S` seconds before the request. Every figure goes to `featurepulse/cost/measured_inputs.json` with one
line saying how it was measured; the cost model reads that file (TEAM contract: figure names are fixed).

1. Stream. Each request body goes through the ingest Lambda's logic (`parse_request`, `prepare_events`:
   validate, enrich, serialize, pack per partition key): bytes of data + partition key per event, events per
   record. Baseline in the same run: one event per record (no packing).
2. Lake. One simulated hour of those records goes through the lake writer with Firehose's layout and the
   stack's buffering settings (cdk/settings.py defaults): Parquet bytes per event, S3 objects per hour.
   Baseline in the same run: the bytes of the same events in their stream records.
3. Lambda and logs. `lambdas.ingest.handler.lambda_handler` (Powertools resolver, logger, metrics, tracer as
   deployed) answers API Gateway proxy events of 100 events, its AWS clients answered in-process by moto.
   CPU milliseconds per request (this thread's CPU time: other processes' load does not count), the time inside
   AWS calls (botocore before-call to after-call) left out: in AWS the PutRecords round trip adds to the billed
   duration, and cannot be measured offline. Log bytes: everything the handler writes to stdout (Powertools
   logger lines and the EMF metrics document) per request, captured at the file-descriptor level. Baseline in
   the same run: `orjson.loads` of the same body.
4. Athena. The daily report runs (on DuckDB, on the lake of step 2) with a runner that records every query and
   its parameters: the number of queries per report day. Bytes scanned are estimated the way Athena bills
   Parquet: each query runs again on DuckDB with its profiler; for each scan of the events files, the columns
   DuckDB's optimizer reads (once per consumer of a CTE: Athena inlines WITH queries) at the per-column
   compressed bytes per event of the lake files, times the days of the query's scan range, at 100 events/s
   for a full day. Raw bytes, before Athena's 10 MB minimum per query.
5. DynamoDB. The real-time job (`featurepulse_flink.job.build_aggregation`, PyFlink mini-cluster) is fed the
   same workload in real time; every row it hands the sink is recorded (bench/flink_emissions.py). The AWS
   DynamoDB connector writes each row (upsert changelog, batches of 25, 500 ms flush, last write per key within
   a batch: `sink.flush-buffer.timeout`, PARTITIONED BY): writes per second, item sizes as DynamoDB bills them
   (attribute names and values, NULLs left out as `sink.ignore-nulls` does), write units (1 KB each).
   Baseline in the same run: the same job at the previous default early-firing delay (1 s). Also counted: writes
   that repeat the key's previous item (what the local sink, flink/local, skips), and, as a freshness check, the
   seconds from a spool file to the emitted app day row that counts its events.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from featurepulse.domain.packing import record_text
from featurepulse.domain.stages import DEFAULT_STAGE_MAP
from featurepulse.ingest.enrich import EnrichmentConfig
from featurepulse.ingest.request import BATCH, parse_request, prepare_events
from featurepulse.lake.store import LocalStore
from featurepulse.lake.transform import transform_record
from featurepulse.lake.writer import BufferingHints, LakeWriter
from featurepulse.realtime.settings import RealtimeSettings

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "featurepulse" / "cost" / "measured_inputs.json"

RATE = 100  # events per second
BATCH_SIZE = 100  # events per request
TARGET_EVENT_BYTES = 1000  # request body bytes per event
SPREAD_S = 10  # a batch's events happened over this many seconds before the request
LAKE_SECONDS = 3600  # one simulated hour through the lake writer
LAMBDA_REQUESTS = 60
LOG_REQUESTS = 20
FLINK_FEED_S = 80
FLINK_WARMUP_S = 20  # rows of the first seconds (job start, first windows) are left out of the rates
DDB_WRITE_UNIT_BYTES = 1024
BASELINE_EARLY_FIRE_DELAY_MS = 1000  # the previous default of realtimeEarlyFireDelayMs
KEPT_UP_MARGIN_S = 5.0  # the job keeps up when a file is counted within two firing delays and this
JOB_ATTEMPTS = 2  # a run that did not keep up (an overloaded machine) is measured once more
SINK_BATCH = 25  # the DynamoDB connector's sink.batch.max-size default (BatchWriteItem's limit)
SINK_FLUSH_S = 0.5  # sink.flush-buffer.timeout (featurepulse/realtime/sql.py)
ATHENA_MIN_BYTES = 10 * 1024 * 1024
DAY_S = 86_400

FEATURES = ("smart-reports", "bulk-export", "ai-summary", "dark-mode")
STAGE_EVENTS = ("Feature Viewed", "Feature Viewed", "Feature Used", "Feature Used", "Feature Completed")
CAMPAIGNS = (
    None,
    {"name": "winter_launch", "source": "newsletter", "medium": "email", "term": "reports", "content": "hero"},
    {"name": "winter_launch", "source": "google", "medium": "cpc", "term": "analytics reports"},
    {"name": "partner_week", "source": "partner", "medium": "referral"},
)
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
WRITE_KEY = "bench-write-key"


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- workload ----------------------------------------------------------------------------------------------
class Workload:
    """Requests of one client each: 100 events of one user over the SPREAD_S seconds before the request."""

    def __init__(self, seed: int = 13, users: int = 20_000) -> None:
        self.rng = random.Random(seed)
        self.users = users
        self.padding = ""
        # Pad a property so that a request carries TARGET_EVENT_BYTES per event on average (the GAP workload).
        probe = [len(self.body(datetime(2026, 12, 1, tzinfo=UTC))) for _ in range(20)]
        self.padding = "x" * max(0, round(TARGET_EVENT_BYTES - statistics.fmean(probe) / BATCH_SIZE))
        self.rng = random.Random(seed)

    def _context(self, web: bool, campaign: dict[str, str] | None) -> dict[str, Any]:
        rng = self.rng
        ip = f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if web:
            context: dict[str, Any] = {
                "library": {"name": "analytics.js", "version": "next-1.70.0"},
                "page": {
                    "path": "/app/reports",
                    "referrer": "https://www.google.com/",
                    "title": "Reports - Example",
                    "url": "https://app.example.com/app/reports",
                },
                "userAgent": USER_AGENT,
                "locale": rng.choice(("en-US", "en-GB", "de-DE", "fr-FR")),
                "ip": ip,
            }
            if campaign is not None:
                context["campaign"] = campaign
            return context
        return {
            "library": {"name": "analytics-ios", "version": "4.1.8"},
            "app": {"name": "Example", "version": "5.12.0", "build": "5120", "namespace": "com.example.app"},
            "device": {"manufacturer": "Apple", "model": "iPhone15,2", "type": "ios", "id": str(uuid.uuid4())},
            "os": {"name": "iOS", "version": "18.1"},
            "locale": "en-US",
            "timezone": "America/New_York",
            "ip": ip,
        }

    def events(self, sent: datetime) -> list[dict[str, Any]]:
        rng = self.rng
        user = f"user-{rng.randrange(self.users)}"
        anonymous = str(uuid.UUID(int=rng.getrandbits(128)))
        context = self._context(rng.random() < 0.7, rng.choice(CAMPAIGNS))
        variation = "treatment" if int(user.rsplit("-", 1)[1]) % 2 else "control"
        offsets = sorted(rng.randint(0, SPREAD_S * 1000) for _ in range(BATCH_SIZE))
        out = []
        for offset in reversed(offsets):
            event: dict[str, Any] = {
                "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
                "anonymousId": anonymous,
                "userId": user,
                "timestamp": _iso(sent - timedelta(milliseconds=offset)),
                "context": context,
            }
            kind = rng.random()
            if kind < 0.75:
                stage = rng.choice(STAGE_EVENTS)
                properties: dict[str, Any] = {
                    "feature": rng.choice(FEATURES),
                    "experiment_id": "exp-onboarding-v2",
                    "variation_id": variation,
                    "note": self.padding,
                }
                if stage != "Feature Viewed":
                    properties["duration_ms"] = rng.randint(200, 120_000)
                event.update(type="track", event=stage, properties=properties)
            elif kind < 0.95:
                event.update(type="page", name="Reports", properties={"path": "/app/reports", "note": self.padding})
            else:
                event.update(type="identify", traits={"plan": "pro", "company": "Example Inc", "note": self.padding})
            out.append(event)
        return out

    def body(self, sent: datetime) -> bytes:
        return orjson.dumps({"batch": self.events(sent), "sentAt": _iso(sent)})


def ingest_records(body: bytes, received: datetime, request_id: str) -> list[Any]:
    """What the ingest Lambda's logic puts on the stream for one request (validated, enriched, packed)."""
    prepared = prepare_events(
        parse_request(body, BATCH),
        source_id="src_bench",
        request_id=request_id,
        received_at_ms=int(received.timestamp() * 1000),
        config=EnrichmentConfig(stage_map=DEFAULT_STAGE_MAP),
        source_ip="203.0.113.9",
    )
    if prepared.rejections or prepared.quarantined:
        raise AssertionError(f"benchmark events were rejected: {prepared.rejections[:3]}")
    return list(prepared.records)


@dataclass
class Figures:
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str, how: str) -> None:
        self.values[name] = {"value": round(value, 6), "unit": unit, "how": how}
        print(f"  {name:42} {value:14,.3f} {unit}")


# --- 1 and 2: stream and lake --------------------------------------------------------------------------------
def stream_and_lake(figures: Figures, lake_dir: Path) -> dict[str, Any]:
    from cdk.settings import StackSettings

    stack = StackSettings()
    workload = Workload()
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    clock = [0.0]
    writer = LakeWriter(
        [LocalStore(lake_dir)],
        hints=BufferingHints(
            size_bytes=stack.lake_buffer_size_mib * 1024 * 1024, interval_s=stack.lake_buffer_interval_seconds
        ),
        monotonic=lambda: clock[0],
        now=lambda: start + timedelta(seconds=clock[0]),
    )
    events = records = stream_bytes = unpacked_records = unpacked_bytes = body_bytes = 0
    compressed_bytes = 0  # records are gzip JSON Lines (featurepulse/domain/packing.py): what Kinesis/Firehose bill
    transform_cpu_s = 0.0
    requests_per_second = RATE // BATCH_SIZE
    for second in range(LAKE_SECONDS):
        sent = start + timedelta(seconds=second)
        clock[0] = float(second)
        for r in range(requests_per_second):
            body = workload.body(sent)
            body_bytes += len(body)
            for record in ingest_records(body, sent + timedelta(milliseconds=50), f"r{second}-{r}"):
                n = len(record.event_ids)
                events += n
                records += 1
                json_lines = record_text(record.data)
                stream_bytes += len(json_lines) + len(record.partition_key.encode())
                compressed_bytes += record.size
                # Baseline: each event alone in a record, with the same partition key.
                unpacked_records += n
                unpacked_bytes += len(json_lines) + n * len(record.partition_key.encode())
                started_cpu = time.process_time()
                transform_record(record.data)  # the Firehose processing Lambda's logic, per record
                transform_cpu_s += time.process_time() - started_cpu
                writer.add_record(record.data)
    writer.flush()
    files_in_hour = writer.stats.files
    lake_bytes = writer.stats.bytes
    assert writer.stats.rows == events, (writer.stats.rows, events)
    print(
        f"workload: {events:,} events in {events // BATCH_SIZE:,} requests of {BATCH_SIZE}, "
        f"{body_bytes / events:,.0f} request bytes per event"
    )
    figures.add(
        "stream_bytes_per_event",
        stream_bytes / events,
        "bytes",
        "ingest logic (parse_request + prepare_events) on 100-event requests of one client, ~1 KB events: "
        "JSON Lines (decompressed) + partition key bytes / events",
    )
    figures.add(
        "stream_compressed_bytes_per_event",
        compressed_bytes / events,
        "bytes",
        "same run: PutRecords data as stored (gzip records, plain up to 5 KB) + partition key bytes / events",
    )
    figures.add(
        "lake_transform_ms_per_mb",
        transform_cpu_s * 1000 / (stream_bytes / (1024 * 1024)),
        "ms",
        "same run: CPU of featurepulse/lake/transform.py transform_record per MB of decompressed JSON Lines "
        "(this machine; not measured on Lambda)",
    )
    figures.add(
        "events_per_stream_record",
        events / records,
        "events",
        "same run: events / stream records, as prepare_events packs them (per partition key, as the Lambda puts them)",
    )
    print(
        f"  baseline one event per record: {unpacked_records / events:.2f} records per event "
        f"and {unpacked_bytes / events:,.0f} bytes per event (packing: {unpacked_records / records:.1f}x fewer records)"
    )
    figures.add(
        "lake_bytes_per_event",
        lake_bytes / events,
        "bytes",
        f"one hour of those stream records through the lake writer (Firehose layout, Parquet as converted, "
        f"{stack.lake_buffer_interval_seconds} s / {stack.lake_buffer_size_mib} MiB buffering): file bytes / events",
    )
    figures.add(
        "s3_objects_per_hour_lake",
        files_in_hour * 3600 / LAKE_SECONDS,
        "objects",
        f"same run: Parquet objects written for {LAKE_SECONDS} s of traffic (per dt/hr partition and buffer flush, "
        f"{stack.lake_buffer_interval_seconds} s interval)",
    )
    print(f"  baseline, the same events as JSON Lines on the stream: {stream_bytes / events:,.0f} bytes per event; "
          f"Parquet {stream_bytes / lake_bytes:.1f}x smaller")  # fmt: skip
    return {
        "lake_events": events,
        "lake_files": files_in_hour,
        "lake_buffer_interval_seconds": stack.lake_buffer_interval_seconds,
        "lake_buffer_size_mib": stack.lake_buffer_size_mib,
        "event_bytes": round(body_bytes / events, 1),  # request body bytes per event, as sent
        "stream_record_bytes_mean": round(compressed_bytes / records, 1),  # as billed: Firehose rounds up to 5 KB
        "ingest_memory_mb": stack.ingest_memory_mb,
        "lake_day": start.date().isoformat(),
    }


# --- 3: the Lambda handler and its logs ----------------------------------------------------------------------
@contextlib.contextmanager
def _captured_stdout() -> Iterator[list[bytes]]:
    """Everything written to file descriptor 1 meanwhile (Powertools writes logs and EMF there)."""
    out: list[bytes] = []
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield out
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read())


def lambda_and_logs(figures: Figures) -> dict[str, Any]:
    from moto import mock_aws

    from featurepulse import constants
    from featurepulse.local.endpoint import build_proxy_event

    env = {
        constants.ENV_STREAM_NAME: "bench-events",
        constants.ENV_SOURCES_TABLE: "bench-sources",
        constants.ENV_QUARANTINE_BUCKET: "bench-lake",
        constants.ENV_QUARANTINE_PREFIX: constants.QUARANTINE_PREFIX,
        constants.ENV_SERVICE_NAME: constants.SERVICE_NAME,
        constants.ENV_METRICS_NAMESPACE: constants.METRICS_NAMESPACE,
        constants.ENV_LOG_LEVEL: "INFO",  # cdk/settings.py default (logLevel)
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with mock_aws():
            import boto3

            from featurepulse.dal.clients import dynamodb_client
            from featurepulse.sources import create_source
            from lambdas.ingest import handler

            boto3.client("kinesis").create_stream(StreamName="bench-events", ShardCount=2)
            dynamodb = boto3.client("dynamodb")
            dynamodb.create_table(
                TableName="bench-sources",
                KeySchema=[{"AttributeName": constants.SOURCES_TABLE_PARTITION_KEY, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": constants.SOURCES_TABLE_PARTITION_KEY, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            boto3.client("s3").create_bucket(Bucket="bench-lake")
            source = create_source("bench-sources", "bench", dynamodb_client=dynamodb)
            handler.reset_process_state()
            deps = handler.dependencies()
            in_aws = [0.0]
            started: list[float] = []

            def before(**_: Any) -> None:
                started.append(time.thread_time())

            def after(**_: Any) -> None:
                in_aws[0] += time.thread_time() - started.pop()

            for client in (deps.kinesis, deps.s3, dynamodb_client()):
                client.meta.events.register("before-call", before)
                client.meta.events.register("after-call", after)

            workload = Workload(seed=29)
            import base64

            auth = "Basic " + base64.b64encode(f"{source.write_key}:".encode()).decode()

            @dataclass
            class Context:
                function_name: str = "featurepulse-ingest"
                memory_limit_in_mb: int = 512
                invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:featurepulse-ingest"
                aws_request_id: str = "bench"

                def get_remaining_time_in_millis(self) -> int:
                    return 10_000

            def proxy(i: int) -> tuple[dict[str, Any], bytes]:
                now = datetime.now(UTC)
                body = workload.body(now)
                event = build_proxy_event(
                    method="POST",
                    target="/v1/batch",
                    headers=[("Authorization", auth), ("Content-Type", "application/json")],
                    body=body,
                    source_ip="203.0.113.9",
                    request_id=f"bench-{i}",
                    received_at=now,
                )
                return event, body

            def call(event: dict[str, Any]) -> None:
                answer = handler.lambda_handler(event, Context())
                if answer["statusCode"] != 200:
                    raise AssertionError(f"the handler answered {answer['statusCode']}: {answer.get('body')}")

            with _captured_stdout():  # warm-up: imports, the write-key lookup, first clients
                for i in range(3):
                    call(proxy(i)[0])
            prepared = [proxy(100 + i) for i in range(LAMBDA_REQUESTS)]
            durations = []
            with _captured_stdout():
                for event, _ in prepared:
                    in_aws[0] = 0.0
                    t0 = time.thread_time()  # CPU time of this thread: what the handler computes, whatever the load
                    call(event)
                    durations.append((time.thread_time() - t0 - in_aws[0]) * 1000)
            floors = []
            for _, body in prepared:
                t0 = time.thread_time()
                orjson.loads(body)
                floors.append((time.thread_time() - t0) * 1000)
            with _captured_stdout() as logged:
                for i in range(LOG_REQUESTS):
                    call(proxy(1000 + i)[0])
            handler.reset_process_state()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    ms = statistics.median(durations)
    figures.add(
        "lambda_ms_per_batch_100",
        ms,
        "ms",
        f"median CPU time of {LAMBDA_REQUESTS} lambda_handler calls (API Gateway proxy event, 100 ~1 KB events), one "
        "core of the bench machine, AWS calls (moto) excluded: add the PutRecords round trip",
    )
    figures.add("lambda_ms_per_event", ms / BATCH_SIZE, "ms", "lambda_ms_per_batch_100 / 100")
    log_bytes = len(b"".join(logged)) / LOG_REQUESTS
    figures.add(
        "log_bytes_per_request",
        log_bytes,
        "bytes",
        f"stdout of {LOG_REQUESTS} handler calls at log level INFO (Powertools logger lines + EMF metrics), "
        "captured per request; Lambda's own START/END/REPORT lines not included",
    )
    print(
        f"  baseline orjson.loads of the same body: median {statistics.median(floors):.2f} ms; "
        f"handler / floor {ms / statistics.median(floors):.1f}x"
    )
    sample = b"".join(logged).decode(errors="replace").strip().splitlines()
    print(f"  one request's log output starts: {sample[0][:160] if sample else '(nothing)'}")
    return {"lambda_requests": LAMBDA_REQUESTS}


# --- 4: Athena ------------------------------------------------------------------------------------------------
@dataclass
class RecordingRunner:
    """The DuckDB runner, recording each query the report runs (name and parameters)."""

    inner: Any
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    engine: str = "duckdb"

    def run(self, name: str, params: Mapping[str, Any]) -> Any:
        self.calls.append((name, dict(params)))
        return self.inner.run(name, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def column_bytes_per_event(lake_dir: Path) -> dict[str, float]:
    totals: dict[str, int] = {}
    rows = 0
    for path in (lake_dir / "events").glob("dt=*/hr=*/*.parquet"):
        meta = pq.ParquetFile(path).metadata
        rows += meta.num_rows
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                column = group.column(c)
                totals[column.path_in_schema] = totals.get(column.path_in_schema, 0) + column.total_compressed_size
    return {name: size / rows for name, size in totals.items()}


def scanned_columns(runner: Any, name: str, params: Mapping[str, Any]) -> list[list[str]]:
    """The lake columns each scan of the `events` files reads, as DuckDB's optimizer prunes them (from its
    profile), once per consumer of a CTE: Athena (Trino) inlines a WITH query at each reference."""
    sql = runner.translate(name, params)
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "profile.json"
        runner.connection.execute("PRAGMA enable_profiling = 'json'")
        runner.connection.execute(f"SET profiling_output = '{output}'")
        runner.connection.execute(sql).fetchall()
        runner.connection.execute("PRAGMA disable_profiling")
        profile = json.loads(output.read_text())
    partition_columns = {"dt", "hr"}  # Athena prunes on them; they are not in the files
    scans: list[list[str]] = []

    def walk(node: Mapping[str, Any], times: int) -> None:
        info = node.get("extra_info") or {}
        children = list(node.get("children") or [])
        if node.get("type") == "CTE" and children:
            walk(children[0], times * int(info.get("Consumers", 1) or 1))
            children = children[1:]
        if info.get("Function") == "READ_PARQUET" and "/events/" in str(info.get("Filename(s)", "")):
            projections = info.get("Projections") or []
            columns = projections if isinstance(projections, list) else str(projections).split("\n")
            scans.extend([[c for c in columns if c and c not in partition_columns]] * times)
        for child in children:
            walk(child, times)

    for root in profile.get("operator") or []:
        walk(root, 1)
    return scans


def athena(figures: Figures, lake_dir: Path, lake_day: date) -> dict[str, Any]:
    from featurepulse.local.duckdb_runner import DuckDbQueryRunner
    from featurepulse.reporting.job import ReportSettings, build_report
    from featurepulse.reporting.periods import Period
    from featurepulse.reporting.queries import SCAN_START_PARAMETER_NAME, query_scan_parameters

    runner = RecordingRunner(DuckDbQueryRunner(lake_dir))
    settings = ReportSettings(sender="bench@example.com", recipients=("r@example.com",), send_log_table="bench")
    period = Period.containing("day", lake_day)
    build_report(runner, period, settings, now=datetime.combine(lake_day + timedelta(days=1), datetime.min.time()))
    # The report job also corrects the live day rows of a final day (featurepulse/realtime/finalize.py).
    runner.run("live_day_metrics", {"scan_start_date": lake_day, "end_date": lake_day})
    per_column = column_bytes_per_event(lake_dir)
    events_per_day = RATE * DAY_S
    total = 0.0
    billed = 0.0
    print(f"  {'query':30} {'days':>4} {'scans':>5} {'columns':>7} {'GB scanned at 100 ev/s':>23}")
    for name, params in runner.calls:
        bound = query_scan_parameters(name, params)
        source, end = bound.get(SCAN_START_PARAMETER_NAME), bound.get("end_date")
        days = (end - source).days + 1 if isinstance(source, date) and isinstance(end, date) else 1
        # Profiled with its dates moved so that its period ends on the lake's day (the previous period's queries
        # read the day before, which this lake does not have; the columns and the scan length are the same).
        shift = lake_day - end if isinstance(end, date) else timedelta(0)
        moved = {k: v + shift if isinstance(v, date) else v for k, v in params.items()}
        scans = scanned_columns(runner.inner, name, moved)
        per_event = sum(per_column.get(c, 0.0) for columns in scans for c in columns)
        scanned = days * events_per_day * per_event
        total += scanned
        billed += max(scanned, ATHENA_MIN_BYTES)
        widest = max((len(c) for c in scans), default=0)
        print(f"  {name:30} {days:4d} {len(scans):5d} {widest:7d} {scanned / 1e9:23.3f}")
    runner.inner.close()
    figures.add(
        "athena_bytes_scanned_per_report_day",
        total,
        "bytes",
        "daily report's queries + live-day correction on DuckDB over the lake files: per scan, the columns its "
        "optimizer reads x per-column Parquet bytes/event x days in the scan range, 100 events/s; no 10 MB minimum",
    )
    figures.add(
        "athena_queries_per_report_day",
        len(runner.calls),
        "queries",
        "queries one daily report run sends (build_report on a recording runner, previous period included) "
        "+ 1 live_day_metrics",
    )
    print(f"  with the 10 MB minimum per query: {billed / 1e9:.3f} GB billed per report day")
    return {"report_queries": [n for n, _ in runner.calls]}


# --- 5: DynamoDB from the real-time job ---------------------------------------------------------------------
def dynamodb_item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it (attribute names included; the sink leaves NULLs out)."""

    def value_size(value: Any) -> int:
        if isinstance(value, bool) or value is None:
            return 1
        if isinstance(value, int | float):
            digits = str(abs(value)).replace(".", "").strip("0") or "0"
            return math.ceil(len(digits) / 2) + 1
        if isinstance(value, str):
            return len(value.encode())
        if isinstance(value, bytes):
            return len(value)
        if isinstance(value, Mapping):
            return 3 + sum(len(str(k).encode()) + value_size(v) + 1 for k, v in value.items())
        if isinstance(value, list | tuple):
            return 3 + sum(value_size(v) + 1 for v in value)
        raise TypeError(type(value))

    return sum(len(k.encode()) + value_size(v) for k, v in item.items() if v is not None)


def aws_sink_writes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items the DynamoDB connector writes for these rows: batches of up to 25, flushed 500 ms after they
    open, the last write of a key within a batch only."""
    out: list[dict[str, Any]] = []
    batch: dict[tuple[str, str], dict[str, Any]] = {}
    opened = 0.0
    count = 0
    for row in rows:
        if row["kind"] == "UPDATE_BEFORE":
            continue
        if batch and row["t"] - opened >= SINK_FLUSH_S:
            out += batch.values()
            batch, count = {}, 0
        if not batch:
            opened = row["t"]
        item = row["item"]
        batch[(item["pk"], item["sk"])] = item
        count += 1
        if count >= SINK_BATCH:
            out += batch.values()
            batch, count = {}, 0
    out += batch.values()
    return out


def run_flink(
    settings: RealtimeSettings, seconds: int
) -> tuple[list[dict[str, Any]], float, float, list[tuple[float, int]]]:
    """Feed the job `seconds` of the workload in real time; return the rows it emitted, the feed window and when
    each spool file was written with the events written so far."""
    fed: list[tuple[float, int]] = []
    from featurepulse.realtime.local import SpoolWriter, flink_python

    python = flink_python()
    if not python.exists():
        raise RuntimeError(f"{python} not found: build it with `make .venv-flink/.installed`")
    with tempfile.TemporaryDirectory(prefix="bench-cost-flink-") as tmp:
        root = Path(tmp)
        spool_dir, out, ready = root / "spool", root / "rows.jsonl", root / "ready"
        spool_dir.mkdir()
        command = [str(python), "-m", "bench.flink_emissions", "--spool", str(spool_dir), "--out", str(out)]
        command += ["--ready-file", str(ready)]
        for key, value in settings.to_properties().items():
            command += ["--property", f"{key}={value}"]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "flink" / "app" / "python")]))
        log = (root / "job.log").open("wb")
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 240
            while not ready.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    raise RuntimeError("the job did not start:\n" + (root / "job.log").read_text()[-3000:])
                time.sleep(0.2)
            spool = SpoolWriter(spool_dir)
            workload = Workload(seed=41)
            start = time.time()
            for second in range(seconds):
                for r in range(RATE // BATCH_SIZE):
                    sent = datetime.now(UTC)
                    spool.write([rec.data for rec in ingest_records(workload.body(sent), sent, f"f{second}-{r}")])
                    fed.append((time.time(), spool.events))
                time.sleep(max(0.0, start + second + 1 - time.time()))
            end = time.time()
            time.sleep(3)  # the last early firings
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the JVM of the mini-cluster, same process group
            log.close()
        rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []
    rows.sort(key=lambda r: r["t"])
    return rows, start, end, fed


def freshness_s(rows: list[dict[str, Any]], fed: list[tuple[float, int]], since: float) -> list[float]:
    """For each spool file written after `since`: seconds until an emitted app day row counts its events (the
    app row counts every on-time event; the workload's events are never late for a day window)."""
    app_day = [
        (r["t"], int(r["item"]["events"] or 0))
        for r in rows
        if r["kind"] != "UPDATE_BEFORE" and r["item"]["pk"] == "APP" and r["item"]["sk"].startswith("D#")
    ]
    out = []
    for written, total in fed:
        if written < since:
            continue
        seen = next((t for t, count in app_day if t >= written and count >= total), None)
        if seen is not None:
            out.append(seen - written)
    return out


@dataclass(frozen=True)
class JobWrites:
    """What one run of the job handed the DynamoDB sink, over the measured window."""

    seconds: float
    rows: int  # rows handed to the sink (INSERT and UPDATE_AFTER)
    writes: int  # after the AWS sink's batching
    write_units: int
    sizes: list[int]
    repeats: int  # writes equal to the key's previous write (what the local sink would skip)
    by_prefix: dict[str, int]
    latency_p50_s: float
    latency_p95_s: float

    def summary(self, early_fire_delay_ms: int) -> dict[str, Any]:
        return {
            "realtime_early_fire_delay_ms": early_fire_delay_ms,
            "writes_per_second": round(self.writes / self.seconds, 2),
            "write_units_per_second": round(self.write_units / self.seconds, 2),
            "rows_to_sink_per_second": round(self.rows / self.seconds, 2),
            "item_bytes_p50": statistics.median(self.sizes),
            "emit_latency_p95_s": round(self.latency_p95_s, 2),
            "writes_by_sort_key_prefix": self.by_prefix,
        }


def measure_job(settings: RealtimeSettings) -> JobWrites:
    rows, start, end, fed = run_flink(settings, FLINK_FEED_S)
    window = (start + FLINK_WARMUP_S, end)
    steady = [r for r in rows if window[0] <= r["t"] < window[1]]
    if not steady:
        raise RuntimeError(f"the job emitted no row in the measured window ({len(rows)} rows in all)")
    writes = aws_sink_writes(steady)
    sizes = sorted(dynamodb_item_bytes(i) for i in writes)
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r["t"] >= window[0]:
            break
        if r["kind"] != "UPDATE_BEFORE":
            last[(r["item"]["pk"], r["item"]["sk"])] = r["item"]
    repeats = 0
    by_prefix: dict[str, int] = {}
    for item in writes:
        key = (item["pk"], item["sk"])
        repeats += last.get(key) == item
        last[key] = item
        prefix = item["sk"].split("#", 1)[0]
        by_prefix[prefix] = by_prefix.get(prefix, 0) + 1
    fresh = sorted(freshness_s(rows, fed, window[0]))
    return JobWrites(
        seconds=window[1] - window[0],
        rows=sum(1 for r in steady if r["kind"] != "UPDATE_BEFORE"),
        writes=len(writes),
        write_units=sum(math.ceil(size / DDB_WRITE_UNIT_BYTES) for size in sizes),
        sizes=sizes,
        repeats=repeats,
        by_prefix=dict(sorted(by_prefix.items())),
        latency_p50_s=fresh[len(fresh) // 2] if fresh else float("nan"),
        latency_p95_s=fresh[min(len(fresh) - 1, math.ceil(0.95 * len(fresh)) - 1)] if fresh else float("nan"),
    )


def _print_job(label: str, job: JobWrites) -> None:
    print(
        f"  {label}: {job.rows / job.seconds:.1f} rows/s handed to the sink, {job.writes / job.seconds:.1f} writes/s "
        f"and {job.write_units / job.seconds:.1f} WRU/s after its batching ({job.seconds:.0f} s); "
        f"by sort-key prefix {job.by_prefix}; {job.repeats} of {job.writes} writes repeat the key's previous "
        f"item; spool file -> app day row counts it: p50 {job.latency_p50_s:.2f} s, p95 {job.latency_p95_s:.2f} s"
    )


def kept_up(job: JobWrites, settings: RealtimeSettings) -> bool:
    """Whether the job kept up with its input: a file counted within two firing delays and a margin, at p95."""
    return job.latency_p95_s <= 2 * settings.early_fire_delay_ms / 1000 + KEPT_UP_MARGIN_S


def dynamodb(figures: Figures, settings: RealtimeSettings, baseline_delay_ms: int) -> dict[str, Any]:
    job = measure_job(settings)
    attempts = 1
    while not kept_up(job, settings) and attempts < JOB_ATTEMPTS:
        _print_job(f"early fire {settings.early_fire_delay_ms} ms, attempt {attempts} (did not keep up)", job)
        job = measure_job(settings)
        attempts += 1
    how = (
        f"PyFlink job fed 100 events/s in real time ({job.seconds:.0f} s after {FLINK_WARMUP_S} s, early fire "
        f"{settings.early_fire_delay_ms} ms): rows handed to the sink, through the AWS sink's batching"
    )
    figures.add("ddb_writes_per_second_at_100_eps", job.writes / job.seconds, "writes/s", how + ", per second")
    figures.add(
        "ddb_write_units_per_second_at_100_eps",
        job.write_units / job.seconds,
        "WRU/s",
        "same writes: sum of ceil(item bytes / 1 KB) per second",
    )
    figures.add(
        "ddb_item_bytes_p50",
        statistics.median(job.sizes),
        "bytes",
        "same writes: median item size as DynamoDB bills it (attribute names + values, NULLs left out)",
    )
    figures.add("ddb_item_bytes_max", job.sizes[-1], "bytes", "same writes: largest item")
    _print_job(f"early fire {settings.early_fire_delay_ms} ms", job)
    # A job that does not keep up (an overloaded machine) sees its input in bursts: the watermark jumps, many
    # events land behind closed minute windows and each fires its rows at once (late firing is per element).
    if not kept_up(job, settings):
        print(
            f"  WARNING: the job did not keep up (p95 {job.latency_p95_s:.1f} s): the machine is overloaded; its "
            "write rates are higher than a job that keeps up (a dedicated KPU) would make"
        )
    # Baseline in the same run: the same job at the previous default early-firing delay.
    base = measure_job(replace(settings, early_fire_delay_ms=baseline_delay_ms))
    _print_job(f"baseline, early fire {baseline_delay_ms} ms", base)
    print(
        f"  writes: {base.writes / base.seconds:.1f}/s at {baseline_delay_ms} ms -> "
        f"{job.writes / job.seconds:.1f}/s at {settings.early_fire_delay_ms} ms "
        f"({(base.writes / base.seconds) / (job.writes / job.seconds):.1f}x fewer); freshness check: add the "
        f"sink's <= {SINK_FLUSH_S} s flush and the Kinesis source's poll in AWS"
    )
    return {
        "ddb_measured_seconds": round(job.seconds, 1),
        "ddb_job_kept_up": kept_up(job, settings),
        "ddb_attempts": attempts,
        "job_emit_latency_p50_s": round(job.latency_p50_s, 2),
        "job_emit_latency_p95_s": round(job.latency_p95_s, 2),
        "ddb_writes_by_sort_key_prefix": job.by_prefix,
        "ddb_baseline_same_run": base.summary(baseline_delay_ms),
    }


def _git_rev() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    figures = Figures()
    workload: dict[str, Any] = {
        "events_per_second": RATE,
        "events_per_request": BATCH_SIZE,
        "target_event_bytes": TARGET_EVENT_BYTES,
        "request": "one client's batch: one user and context, events spread over the "
        f"{SPREAD_S} s before the request; 75% feature track events, 20% page, 5% identify",
    }
    only = set(os.environ.get("FEATUREPULSE_BENCH_COST_ONLY", "").split(",")) - {""}
    print("1-2. stream and lake")
    with tempfile.TemporaryDirectory(prefix="bench-cost-lake-") as tmp:
        lake_dir = Path(tmp)
        workload |= stream_and_lake(figures, lake_dir)
        print("4. Athena (daily report)")
        workload |= athena(figures, lake_dir, date.fromisoformat(workload["lake_day"]))
    print("3. ingest Lambda and its logs")
    workload |= lambda_and_logs(figures)
    if not only or "dynamodb" in only:
        print("5. DynamoDB writes of the real-time job")
        from cdk.settings import StackSettings

        stack = StackSettings()
        settings = RealtimeSettings(
            early_fire_delay_ms=stack.realtime_early_fire_delay_ms,
            allowed_lateness_s=stack.realtime_allowed_lateness_seconds,
            out_of_orderness_s=stack.realtime_out_of_orderness_seconds,
        )
        workload["realtime_early_fire_delay_ms"] = settings.early_fire_delay_ms
        workload |= dynamodb(figures, settings, BASELINE_EARLY_FIRE_DELAY_MS)
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git_rev": _git_rev(),
        "workload": workload,
        "figures": figures.values,
    }
    if only:
        print(json.dumps(document, indent=2))
        return
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written: {OUTPUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
