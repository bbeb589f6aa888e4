"""The monthly AWS bill of a featurepulse deployment: pure arithmetic from a workload, plain settings values, the
measured inputs and the price table (featurepulse/cost/prices.py). No aws_cdk, no boto3.

- `Workload`: what the clients send (events per second, bytes per event, events per request) and how the data is
  used (people watching the live panels, ad-hoc Athena queries, months of data kept).
- `DeploySettings`: the plain values of the deploy settings that change the bill (the CLI fills it from
  `cdk.settings.StackSettings`, the same context the stack is built from).
- `Figures`: the per-event and per-request quantities (bytes on the stream and in the lake, Lambda milliseconds,
  DynamoDB write units, Athena bytes...), measured by bench/bench_cost_inputs.py into
  featurepulse/cost/measured_inputs.json; a figure the file does not have is an assumption of this module, and the
  bill says which is which.
- `Inventory`: the billable resources the stack deploys with these settings. tests/infrastructure/test_cost_coverage.py
  compares it with the synthesized template, so a new billable resource without a price fails the tests.

`monthly_bill(...)` returns every line (service, what, quantity, dollars, path) and the subtotals: the lake path
(ingest API, WAF, ingest Lambda, stream, Firehose, S3, Glue catalog, ad-hoc Athena, erasure, and the logs,
metrics, traces and keys they need), real time (the stream's second reader, Flink, the aggregates table, QuickSight
and its connector) and reports (the scheduled job, its Athena queries, the mail). docs/cost.md explains each line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from featurepulse.cost.prices import (
    DAYS_PER_MONTH,
    GB,
    HOURS_PER_MONTH,
    KB,
    PRICES_READ_ON,
    SECONDS_PER_MONTH,
    Price,
    prices_for,
)

MEASURED_INPUTS_PATH = Path(__file__).with_name("measured_inputs.json")

Path_ = Literal["lake", "realtime", "reports"]
PATHS: tuple[Path_, ...] = ("lake", "realtime", "reports")

# Service names, in the order the bill prints them (the keys of the --json "services" object).
SERVICES: tuple[str, ...] = (
    "API Gateway",
    "WAF",
    "Lambda",
    "Kinesis Data Streams",
    "Firehose",
    "S3",
    "Glue",
    "Athena",
    "DynamoDB",
    "Managed Flink",
    "QuickSight",
    "SES",
    "CloudWatch",
    "X-Ray",
    "KMS",
    "SNS, SQS, Scheduler",
)

# Service limits and billing units that the arithmetic needs (not prices).
KDS_PUT_PAYLOAD_UNIT = 25 * KB
KDS_ON_DEMAND_ROUNDING = 1 * KB
FIREHOSE_ROUNDING = 5 * KB
SHARD_WRITE_BYTES_PER_SECOND = 1024 * 1024
SHARD_WRITE_RECORDS_PER_SECOND = 1000
FLINK_RUNNING_STORAGE_GB_PER_KPU = 50
ATHENA_MIN_BYTES_PER_QUERY = 10 * 1024 * 1024
TB = 1024**4
X_RAY_DEFAULT_RESERVOIR_PER_SECOND = 1.0  # X-Ray's default sampling rule: the first request each second...
X_RAY_DEFAULT_FIXED_RATE = 0.05  # ...and 5% of the others
GLUE_MINIMUM_BILLED_MINUTES = 1.0
DDB_WRITE_UNIT_BYTES = 1 * KB


# --- inputs -------------------------------------------------------------------------------------------------
class CostInputError(ValueError):
    """A workload or settings value the model cannot price (one readable line)."""


@dataclass(frozen=True)
class Workload:
    events_per_second: float
    event_bytes: int
    batch_size: int
    viewers: int = 1
    # How the data is used (the reference bill's assumptions): ad-hoc Athena queries on the lake...
    adhoc_queries_per_day: float = 100.0
    adhoc_mb_per_query: float = 100.0
    # ...dashboard loads per live-panel viewer per day (each load queries the five panels), months of data kept.
    panel_loads_per_viewer_per_day: float = 20.0
    months_stored: int = 1

    def __post_init__(self) -> None:
        problems = []
        if not self.events_per_second > 0:
            problems.append(f"rate must be > 0 events/s, not {self.events_per_second}")
        if self.event_bytes < 1:
            problems.append(f"event bytes must be >= 1, not {self.event_bytes}")
        if not 1 <= self.batch_size <= 500:
            problems.append(f"batch must be 1..500 events per request (the ingest API's limit), not {self.batch_size}")
        if self.viewers < 0:
            problems.append(f"viewers must be >= 0, not {self.viewers}")
        if self.months_stored < 1:
            problems.append(f"months stored must be >= 1, not {self.months_stored}")
        if self.adhoc_queries_per_day < 0 or self.adhoc_mb_per_query < 0 or self.panel_loads_per_viewer_per_day < 0:
            problems.append("query counts and sizes must be >= 0")
        if problems:
            raise CostInputError("; ".join(problems))

    @property
    def requests_per_second(self) -> float:
        return self.events_per_second / self.batch_size


@dataclass(frozen=True)
class DeploySettings:
    """The deploy settings that change the bill, as plain values (defaults: the stack's defaults of 2026-12-04)."""

    stream_mode: str = "on-demand"  # "on-demand" | "provisioned" | "auto" (provisioned, sized by the stack)
    shard_count: int = 1  # the provisioned stream's shards; with "auto", the count the stack computed
    stream_retention_hours: int = 24
    expected_events_per_second: float = 100.0
    expected_event_bytes: int = 1000
    trace_sample_rate: float | None = None  # None: X-Ray's default rule (1 request/s + 5%)
    ingest_memory_mb: int = 512
    log_retention_days: int = 30
    lake_buffer_interval_seconds: int = 300
    lake_buffer_size_mib: int = 128
    lake_infrequent_access_days: int = 90
    realtime_parallelism: int = 1
    realtime_parallelism_per_kpu: int = 1
    realtime_early_fire_delay_ms: int = 1000
    reports_enabled: bool = False
    report_recipients: int = 0
    report_sender: bool = False
    quicksight_enabled: bool = False
    alarm_email: bool = False
    waf_enabled: bool = False  # `wafEnabled`: the web ACL on the API stage (opt-in)

    def __post_init__(self) -> None:
        if self.stream_mode not in ("on-demand", "provisioned", "auto"):
            raise CostInputError(f"unknown streamMode {self.stream_mode!r} (on-demand, provisioned or auto)")
        if self.trace_sample_rate is not None and not 0 <= self.trace_sample_rate <= 1:
            raise CostInputError(f"traceSampleRate must be within 0..1, not {self.trace_sample_rate}")


def provisioned_shards(settings: DeploySettings) -> int | None:
    """The stream's shard count, or None for an on-demand stream."""
    return None if settings.stream_mode == "on-demand" else settings.shard_count


# --- figures: measured (measured_inputs.json) or assumed ----------------------------------------------------
FIGURE_NAMES: tuple[str, ...] = (
    "stream_bytes_per_event",
    "stream_compressed_bytes_per_event",
    "events_per_stream_record",
    "lake_bytes_per_event",
    "lambda_ms_per_batch_100",
    "lambda_ms_per_event",
    "log_bytes_per_request",
    "ddb_write_units_per_second_at_100_eps",
    "ddb_item_bytes_p50",
    "ddb_item_bytes_max",
    "ddb_writes_per_second_at_100_eps",
    "athena_bytes_scanned_per_report_day",
    "athena_queries_per_report_day",
    "s3_objects_per_hour_lake",
    "lake_transform_ms_per_mb",
)


class MeasuredFigure(BaseModel):
    model_config = ConfigDict(extra="allow")
    value: float
    unit: str
    how: str


class MeasuredInputs(BaseModel):
    """featurepulse/cost/measured_inputs.json, as bench/bench_cost_inputs.py writes it."""

    model_config = ConfigDict(extra="allow")
    measured_at: str
    git_rev: str
    workload: dict[str, Any]
    figures: dict[str, MeasuredFigure]


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    how: str
    measured_at: str | None = None  # None: an assumption of this module

    @property
    def source(self) -> str:
        return "measured" if self.measured_at else "assumed"


# Assumptions used until a measurement replaces them; each says where its number comes from. `None` value: derived
# from the workload and the settings by the model (see `Figures`).
ASSUMED_FIGURES: dict[str, tuple[float | None, str, str]] = {
    "stream_bytes_per_event": (
        None,
        "bytes",
        "the event's bytes + 395 bytes of enrichment (docs/performance.md, Lake: 1,254 B on the stream for the "
        "generator's 859 B events)",
    ),
    "stream_compressed_bytes_per_event": (
        None,
        "bytes",
        "gzip records (featurepulse/domain/packing.py): data + partition key per event, the stream bytes / 13.85 "
        "(measured on the ingest logic with 100-event requests of one client, ~1.6 KB stream events: 117 B/event)",
    ),
    "events_per_stream_record": (
        None,
        "events",
        "an SDK batch comes from one device (one partition key) and hour: its gzip record is halved until it holds "
        "the 16x ratio bound, 12.1 events per record for 100-event batches (measured like the line above)",
    ),
    "lake_transform_ms_per_mb": (
        7.6,
        "ms",
        "CPU of featurepulse/lake/transform.py per MB of decompressed JSON Lines, 0.2 MB buffers of those records "
        "(this machine, x86_64; not measured on Lambda)",
    ),
    "lake_bytes_per_event": (
        45.4,
        "bytes",
        "Parquet GZIP at 60 events/s (docs/performance.md, Lake), scaled with the stream bytes",
    ),
    "lambda_ms_per_batch_100": (
        5.0,
        "ms",
        "CPU of the handler for 100 events (docs/performance.md, Ingest); the AWS calls are added separately "
        "(AWS_CALLS_MS_PER_REQUEST)",
    ),
    "lambda_ms_per_event": (0.011, "ms", "11 us of CPU per event (docs/performance.md, Ingest)"),
    "log_bytes_per_request": (
        250.0,
        "bytes",
        "the ingest handler's EMF metrics document of an accepted request (217 bytes with AcceptedEvents, by "
        "serializing it; the handler logs no line at INFO when it accepts; not measured on Lambda)",
    ),
    "ddb_write_units_per_second_at_100_eps": (
        None,
        "write units/s",
        "ddb_writes_per_second_at_100_eps x write units of a ddb_item_bytes_p50 item",
    ),
    "ddb_item_bytes_p50": (
        2500.0,
        "bytes",
        "a live row with its 67 histogram buckets and counters (not measured)",
    ),
    "ddb_item_bytes_max": (4000.0, "bytes", "not measured"),
    "ddb_writes_per_second_at_100_eps": (
        40.0,
        "writes/s",
        "every changed minute and day row upserted on each 1 s early firing (not measured)",
    ),
    "athena_bytes_scanned_per_report_day": (
        None,
        "bytes",
        "210 MB per daily report for 178,571 events a day (docs/performance.md, Reports: 8 queries on DuckDB), "
        "scaled with the events per day",
    ),
    "athena_queries_per_report_day": (8.0, "queries", "the daily report's queries (docs/performance.md, Reports)"),
    "s3_objects_per_hour_lake": (
        None,
        "objects",
        "one Parquet object per buffer flush (interval or size, whichever comes first) + 1 at the hour's boundary",
    ),
}
# Model assumptions that are not measured figures (docs/cost.md lists them).
ENRICHMENT_OVERHEAD_BYTES = 395.0
REPORT_BYTES_PER_EVENT_DAY = 210.3e6 / 178_571  # bytes scanned per daily report per event of a day (see above)
# Lambda's own START, END and REPORT lines (~330 bytes with the X-Ray fields) are not ingested: the Lambdas log with
# the system log level WARN (cdk/lambda_logging.py; tests/infrastructure/test_cost_coverage.py checks the setting).
LAMBDA_PLATFORM_LOG_BYTES = 0.0
# One compact JSON line of the 8 access-log fields (cdk/ingest_api.py) with a browser's user agent (~110 bytes);
# tests/infrastructure/test_cost_coverage.py renders the stage's format with such values and compares.
ACCESS_LOG_BYTES_PER_REQUEST = 320.0
FLINK_LOG_BYTES_PER_DAY = 20e6  # the Flink job at INFO (checkpoints, metrics reporters)
LOG_STORAGE_COMPRESSION = 0.15  # CloudWatch bills stored logs compressed
# ASSUMED (not measurable offline): the ingest Lambda's wait for one PutRecords round trip in the region, added to
# the handler's measured CPU time.
AWS_CALLS_MS_PER_REQUEST = 30.0
# Compressed records (featurepulse/domain/packing.py): JSON Lines / gzip bytes, and events per record, of 100-event
# batches of one client (the assumed figures above).
STREAM_COMPRESSION_RATIO = 13.85
COMPRESSED_EVENTS_PER_RECORD = 12.1
# The Firehose processing Lambda (cdk/lake.py): invoked per 0.2 MB of records or every 60 s, 512 MB, arm64, plus
# a fixed cost per invocation (runtime JSON of the ~0.3 MB request and ~3 MB response, pydantic; not measured).
TRANSFORM_BUFFER_BYTES = 0.2 * 1024 * 1024
TRANSFORM_BUFFER_INTERVAL_S = 60
TRANSFORM_MEMORY_MB = 512
TRANSFORM_FIXED_MS_PER_INVOCATION = 50.0
TRANSFORM_LOG_BYTES_PER_INVOCATION = 250.0  # its EMF metrics document (it logs only failed records, WARNING)
S3_REQUESTS_PER_FIREHOSE_OBJECT = 3  # multipart: create, part, complete
S3_GETS_PER_FILE_SCANNED = 3  # Athena reads a Parquet file's footer and its column chunks
GLUE_MINUTES_PER_REPORT_RUN = 3.0  # the report job (Athena queries + mail), per run
REPORT_JOB_DPU = 2  # G.1X x 2 workers (cdk/reporting.py)
WEEKLY_RUNS_PER_MONTH = DAYS_PER_MONTH / 7
PANEL_QUERIES_PER_LOAD = 5  # five DIRECT_QUERY datasets (cdk/quicksight.py)
CONNECTOR_GB_SECONDS_PER_QUERY = 1.0  # the DynamoDB connector Lambda (1,024 MB, x86_64), ~1 s per query
CONNECTOR_READ_UNITS_PER_QUERY = 100.0
AGGREGATES_TABLE_GB = 0.5  # minute rows live 48 h, day rows 90 days
SOURCES_READS_PER_REQUEST = 0.01  # the ingest Lambda caches the write keys
KMS_CALLERS = 12  # principals that fetch data keys (Lambda environments, Firehose, Flink, 6 log groups, SQS, SNS)
KMS_REQUESTS_PER_CALLER_HOUR = 12  # data keys are reused for 5 minutes
ERASURE_QUEUE_POLLS_PER_MONTH = 5 * 3 * 60 * HOURS_PER_MONTH  # 5 Lambda pollers, 20 s long polls
# API Gateway's per-method (detailed) metrics are billed as custom metrics; the stage has them off
# (tests/infrastructure/test_cost_coverage.py checks it), so the alarms read the free API-level metrics.
API_DETAILED_METRICS = 0
INGEST_CUSTOM_METRICS = 4  # lambdas/ingest/handler.py INGEST_METRIC_NAMES (dimension: service)
ERASURE_CUSTOM_METRICS = 1
FLINK_CUSTOM_METRICS = 3  # lateEvents, unreadableEvents, eventsUnpacked (featurepulse_flink/job.py)
TRANSFORM_CUSTOM_METRICS = 2  # TransformedEvents, ProcessingFailedRecords (featurepulse/lake/transform.py)


def load_measured_inputs(path: Path = MEASURED_INPUTS_PATH) -> MeasuredInputs | None:
    """The measured inputs file, or None when there is none yet. A malformed file is an error, not a silent guess."""
    if not path.is_file():
        return None
    try:
        return MeasuredInputs.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, json.JSONDecodeError) as exc:
        raise CostInputError(f"{path}: not a measured-inputs file ({str(exc).splitlines()[0]})") from None


@dataclass(frozen=True)
class Figures:
    """Every figure the bill needs for one workload: measured ones scaled to it, the others assumed."""

    values: dict[str, Figure]

    def __getitem__(self, name: str) -> float:
        return self.values[name].value

    @classmethod
    def for_workload(
        cls, workload: Workload, settings: DeploySettings, measured: MeasuredInputs | None = None
    ) -> Figures:
        found: dict[str, Figure] = {}
        taken = measured.figures if measured else {}
        at = measured.measured_at if measured else None
        mw: Mapping[str, Any] = measured.workload if measured else {}

        def measured_figure(name: str, value: float, how_suffix: str = "") -> None:
            figure = taken[name]
            found[name] = Figure(name, value, figure.unit, figure.how + how_suffix, at)

        def assumed(name: str, value: float, how_suffix: str = "") -> None:
            _, unit, how = ASSUMED_FIGURES[name]
            found[name] = Figure(name, value, unit, how + how_suffix)

        # Bytes on the stream: the event plus the enrichment the ingest adds.
        if "stream_bytes_per_event" in taken:
            overhead = taken["stream_bytes_per_event"].value - float(mw.get("event_bytes", 0) or 0)
            if "event_bytes" not in mw:
                overhead = ENRICHMENT_OVERHEAD_BYTES
            stream_bytes = workload.event_bytes + overhead
            measured_figure("stream_bytes_per_event", stream_bytes, f" (+{overhead:.0f} B to this workload's events)")
        else:
            stream_bytes = workload.event_bytes + ENRICHMENT_OVERHEAD_BYTES
            assumed("stream_bytes_per_event", stream_bytes)

        if "events_per_stream_record" in taken:
            measured_figure(
                "events_per_stream_record", min(taken["events_per_stream_record"].value, workload.batch_size)
            )
        else:
            # A batch of one device is halved until each gzip record holds the ratio bound (~12 events).
            assumed("events_per_stream_record", min(float(workload.batch_size), COMPRESSED_EVENTS_PER_RECORD))
        # Compressed bytes on the stream (what Kinesis PUT units, shard capacity and Firehose ingestion count).
        if "stream_compressed_bytes_per_event" in taken:
            # Scaled with the JSON bytes per event, as the measured workload's compression ratio stays.
            measured_json = taken["stream_bytes_per_event"].value if "stream_bytes_per_event" in taken else 0.0
            scale = stream_bytes / measured_json if measured_json else 1.0
            measured_figure(
                "stream_compressed_bytes_per_event", taken["stream_compressed_bytes_per_event"].value * scale
            )
        else:
            assumed("stream_compressed_bytes_per_event", stream_bytes / STREAM_COMPRESSION_RATIO)
        if "lake_transform_ms_per_mb" in taken:
            measured_figure("lake_transform_ms_per_mb", taken["lake_transform_ms_per_mb"].value)
        else:
            assumed("lake_transform_ms_per_mb", ASSUMED_FIGURES["lake_transform_ms_per_mb"][0] or 0.0)

        measured_stream_bytes = float(mw.get("event_bytes", 0) or 0) + ENRICHMENT_OVERHEAD_BYTES
        if "lake_bytes_per_event" in taken:
            scale = stream_bytes / measured_stream_bytes if mw.get("event_bytes") else 1.0
            measured_figure("lake_bytes_per_event", taken["lake_bytes_per_event"].value * scale)
        else:
            base = ASSUMED_FIGURES["lake_bytes_per_event"][0] or 0.0
            assumed("lake_bytes_per_event", base * stream_bytes / (859 + ENRICHMENT_OVERHEAD_BYTES))

        for name in (
            "lambda_ms_per_batch_100",
            "lambda_ms_per_event",
            "log_bytes_per_request",
            "ddb_item_bytes_p50",
            "ddb_item_bytes_max",
            "athena_queries_per_report_day",
        ):
            if name in taken:
                measured_figure(name, taken[name].value)
            else:
                assumed(name, ASSUMED_FIGURES[name][0] or 0.0)

        # Live aggregate writes: measured at 100 events/s with the measurement's early-fire delay; linear in the rate
        # and in the firing frequency (a conservative bound: rows changed per firing saturate at high rates).
        measured_delay = float(mw.get("realtime_early_fire_delay_ms", 1000) or 1000)
        fire_scale = measured_delay / settings.realtime_early_fire_delay_ms
        for name in ("ddb_writes_per_second_at_100_eps", "ddb_write_units_per_second_at_100_eps"):
            if name in taken:
                suffix = f" (x{fire_scale:.2f} for realtimeEarlyFireDelayMs)" if fire_scale != 1 else ""
                measured_figure(name, taken[name].value * fire_scale, suffix)
        if "ddb_writes_per_second_at_100_eps" not in found:
            assumed(
                "ddb_writes_per_second_at_100_eps",
                (ASSUMED_FIGURES["ddb_writes_per_second_at_100_eps"][0] or 0)
                * 1000
                / settings.realtime_early_fire_delay_ms,
            )
        if "ddb_write_units_per_second_at_100_eps" not in found:
            units = math.ceil(found["ddb_item_bytes_p50"].value / DDB_WRITE_UNIT_BYTES)
            assumed("ddb_write_units_per_second_at_100_eps", found["ddb_writes_per_second_at_100_eps"].value * units)

        events_per_day = workload.events_per_second * 86_400
        if "athena_bytes_scanned_per_report_day" in taken:
            measured_rate = float(mw.get("events_per_second", workload.events_per_second) or workload.events_per_second)
            scale = workload.events_per_second / measured_rate
            measured_figure(
                "athena_bytes_scanned_per_report_day",
                taken["athena_bytes_scanned_per_report_day"].value * scale,
                f" (x{scale:.2f} for this rate)" if scale != 1 else "",
            )
        else:
            assumed("athena_bytes_scanned_per_report_day", REPORT_BYTES_PER_EVENT_DAY * events_per_day)

        if "s3_objects_per_hour_lake" in taken:
            measured_figure("s3_objects_per_hour_lake", taken["s3_objects_per_hour_lake"].value)
        else:
            bytes_per_second = workload.events_per_second * stream_bytes
            fill_seconds = settings.lake_buffer_size_mib * 1024 * 1024 / bytes_per_second
            flush_seconds = min(settings.lake_buffer_interval_seconds, fill_seconds)
            assumed("s3_objects_per_hour_lake", math.ceil(3600 / flush_seconds) + 1)
        return cls(found)


# --- the bill -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    service: str
    what: str
    quantity: float
    unit: str
    usd: float
    path: Path_


@dataclass(frozen=True)
class Bill:
    lines: tuple[Line, ...]
    figures: Figures
    workload: Workload
    settings: DeploySettings
    region: str
    measured_at: str | None
    notes: tuple[str, ...] = field(default=())

    def subtotal(self, path: Path_) -> float:
        return sum(line.usd for line in self.lines if line.path == path)

    @property
    def lake_path_usd(self) -> float:
        return self.subtotal("lake")

    @property
    def realtime_usd(self) -> float:
        return self.subtotal("realtime")

    @property
    def reports_usd(self) -> float:
        return self.subtotal("reports")

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)

    def services(self) -> dict[str, float]:
        """Dollars per service, every service of SERVICES (0 when the settings leave it out)."""
        totals = dict.fromkeys(SERVICES, 0.0)
        for line in self.lines:
            totals[line.service] += line.usd
        return totals


@dataclass(frozen=True)
class Inventory:
    """The billable resources the stack deploys with a configuration (counts of CloudFormation resources)."""

    kms_keys: int = 1
    web_acls: int = 0  # with `wafEnabled`: 1
    waf_rules: int = 0  # with `wafEnabled`: the per-IP rate rule and two AWS managed rule groups (cdk/ingest_api.py)
    # ingest, erasure, lake transform (the QuickSight connector comes from the Serverless Application Repo)
    lambda_functions: int = 3
    log_groups: int = 6  # ingest, API access log, Firehose, lake transform, erasure, Flink (+1 for the connector)
    # Billed per metric: a metric-math alarm counts each metric it reads.
    alarm_metrics: dict[str, int] = field(default_factory=lambda: {"lake": 16, "realtime": 5, "reports": 1})
    dashboards: int = 1
    dynamodb_tables: int = 3  # sources, aggregates, report send log
    glue_databases: int = 1
    glue_tables: int = 6  # events, quarantine, identities, identity_links, trait_imports, campaign_spend
    glue_jobs: int = 1
    streams: int = 1
    delivery_streams: int = 1
    flink_applications: int = 1
    buckets: int = 3
    queues: int = 2  # erasure requests (FIFO) and its dead letters
    topics: int = 1
    schedules: int = 2
    event_rules: int = 1
    quicksight_data_sets: int = 0
    quicksight_dashboards: int = 0
    quicksight_data_sources: int = 0
    connector_applications: int = 0
    athena_data_catalogs: int = 0
    ses_identities: int = 0
    ses_configuration_sets: int = 1
    sns_subscriptions: int = 0


def inventory_for(settings: DeploySettings) -> Inventory:
    qs = settings.quicksight_enabled
    # A provisioned stream adds the near-write-capacity alarm (bytes and records: 2 metrics; cdk/monitoring.py).
    # The lake transform adds 3 (its Lambda errors, Firehose ExecuteProcessing.Success, ProcessingFailedRecords).
    lake_alarm_metrics = 16 + (2 if settings.stream_mode != "on-demand" else 0)
    return Inventory(
        web_acls=1 if settings.waf_enabled else 0,
        waf_rules=3 if settings.waf_enabled else 0,
        alarm_metrics={"lake": lake_alarm_metrics, "realtime": 5, "reports": 1},
        log_groups=6 + (1 if qs else 0),
        glue_databases=1 + (1 if qs else 0),  # the connector's schema database
        glue_tables=6 + (1 if qs else 0),
        quicksight_data_sets=5 if qs else 0,
        quicksight_dashboards=1 if qs else 0,
        quicksight_data_sources=1 if qs else 0,
        connector_applications=1 if qs else 0,
        athena_data_catalogs=1 if qs else 0,
        ses_identities=1 if settings.report_sender else 0,
        sns_subscriptions=1 if settings.alarm_email else 0,
    )


class _Bill:
    """Collects the lines of one bill."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self.prices = prices
        self.lines: list[Line] = []

    # One call per bill row, its arguments in the order of the row's columns.
    def add(  # noqa: PLR0917
        self, service: str, what: str, quantity: float, unit: str, price_key: str, per: float, path: Path_
    ) -> None:
        """`quantity` in `unit`; the price is per `per` units (1, 1e6, 1000, ...)."""
        usd = quantity / per * self.prices[price_key].usd
        self.lines.append(Line(service, what, quantity, unit, usd, path))


def monthly_bill(
    workload: Workload,
    settings: DeploySettings,
    *,
    region: str = "us-east-1",
    measured: MeasuredInputs | None = None,
) -> Bill:
    """The monthly bill (730 hours) of the stack with `settings` under `workload`, in the region's list prices."""
    prices = prices_for(region)
    figures = Figures.for_workload(workload, settings, measured)
    inventory = inventory_for(settings)
    bill = _Bill(prices)
    notes: list[str] = []
    add = bill.add

    events = workload.events_per_second * SECONDS_PER_MONTH
    requests = workload.requests_per_second * SECONDS_PER_MONTH
    stream_bytes = figures["stream_bytes_per_event"]
    events_per_record = figures["events_per_stream_record"]
    records = events / events_per_record
    # Records are gzip JSON Lines: Kinesis and Firehose bill the compressed bytes (featurepulse/domain/packing.py).
    compressed_bytes = figures["stream_compressed_bytes_per_event"]
    record_bytes = compressed_bytes * events_per_record

    # --- ingest: API Gateway, WAF, Lambda --------------------------------------------------------------------
    add("API Gateway", "REST API requests", requests, "requests", "apigw_rest_per_million", 1e6, "lake")
    if settings.waf_enabled:
        add("WAF", "web ACL", inventory.web_acls, "web ACLs", "waf_web_acl_month", 1, "lake")
        add("WAF", "rules (rate limit + 2 managed groups)", inventory.waf_rules, "rules", "waf_rule_month", 1, "lake")
        add("WAF", "requests inspected", requests, "requests", "waf_requests_per_million", 1e6, "lake")
    else:
        notes.append("WAF is off in these settings (wafEnabled=false, the default): not priced")
    add("Lambda", "ingest invocations", requests, "requests", "lambda_requests_per_million", 1e6, "lake")
    # The measured figure is the handler's CPU with the time inside AWS calls left out; billed duration also
    # waits for PutRecords (the write-key lookup is cached per container).
    duration_ms = math.ceil(
        figures["lambda_ms_per_batch_100"]
        + (workload.batch_size - 100) * figures["lambda_ms_per_event"]
        + AWS_CALLS_MS_PER_REQUEST
    )
    duration_ms = max(1, duration_ms)
    gb_seconds = requests * duration_ms / 1000 * settings.ingest_memory_mb / 1024
    add(
        "Lambda",
        f"ingest duration ({duration_ms} ms x {settings.ingest_memory_mb} MB, arm64)",
        gb_seconds,
        "GB-s",
        "lambda_arm_gb_second",
        1,
        "lake",
    )

    # --- the stream ---------------------------------------------------------------------------------------------
    shards = provisioned_shards(settings)
    if shards is not None:
        mode = "auto: " if settings.stream_mode == "auto" else ""
        add(
            "Kinesis Data Streams",
            f"{shards} provisioned shard(s) ({mode}shard-hours)",
            shards * HOURS_PER_MONTH,
            "shard-hours",
            "kds_shard_hour",
            1,
            "lake",
        )
        put_units = records * math.ceil(record_bytes / KDS_PUT_PAYLOAD_UNIT)
        add(
            "Kinesis Data Streams",
            "PUT payload units (25 KB, compressed records)",
            put_units,
            "units",
            "kds_put_units_per_million",
            1e6,
            "lake",
        )
        if settings.stream_retention_hours > 24:
            add(
                "Kinesis Data Streams",
                "extended retention",
                shards * HOURS_PER_MONTH,
                "shard-hours",
                "kds_extended_retention_shard_hour",
                1,
                "lake",
            )
        capacity = shards * min(
            SHARD_WRITE_BYTES_PER_SECOND / compressed_bytes, SHARD_WRITE_RECORDS_PER_SECOND * events_per_record
        )
        if workload.events_per_second > capacity:
            notes.append(
                f"the stream's {shards} shard(s) take about {capacity:,.0f} events/s: "
                f"{workload.events_per_second:,.0f} events/s would be throttled "
                "(raise shardCount or expectedEventsPerSecond)"
            )
    else:
        add(
            "Kinesis Data Streams",
            "on-demand stream-hours",
            HOURS_PER_MONTH,
            "stream-hours",
            "kds_on_demand_stream_hour",
            1,
            "lake",
        )
        billed_gb = records * math.ceil(record_bytes / KDS_ON_DEMAND_ROUNDING) * KDS_ON_DEMAND_ROUNDING / GB
        add("Kinesis Data Streams", "data written (1 KB rounding)", billed_gb, "GB", "kds_on_demand_in_gb", 1, "lake")
        add("Kinesis Data Streams", "data read by Firehose", billed_gb, "GB", "kds_on_demand_out_gb", 1, "lake")
        add("Kinesis Data Streams", "data read by Flink", billed_gb, "GB", "kds_on_demand_out_gb", 1, "realtime")
        if settings.stream_retention_hours > 24:
            stored_gb = billed_gb / HOURS_PER_MONTH * (settings.stream_retention_hours - 24)
            add(
                "Kinesis Data Streams",
                "extended retention",
                stored_gb,
                "GB-month",
                "kds_on_demand_retention_gb_month",
                1,
                "lake",
            )

    # --- Firehose -> S3 ----------------------------------------------------------------------------------------
    firehose_gb = records * math.ceil(record_bytes / FIREHOSE_ROUNDING) * FIREHOSE_ROUNDING / GB
    add(
        "Firehose",
        "ingestion from the stream (compressed records, 5 KB rounding)",
        firehose_gb,
        "GB",
        "firehose_ingest_gb",
        1,
        "lake",
    )
    add(
        "Firehose",
        "format conversion to Parquet (billed on the ingested volume)",
        firehose_gb,
        "GB",
        "firehose_format_conversion_gb",
        1,
        "lake",
    )
    # Dynamic partitioning is billed per GB delivered to S3: the Parquet objects, not the JSON read.
    delivered_gb = events * figures["lake_bytes_per_event"] / GB
    add(
        "Firehose",
        "dynamic partitioning (GB delivered, Parquet)",
        delivered_gb,
        "GB",
        "firehose_dynamic_partitioning_gb",
        1,
        "lake",
    )
    objects = figures["s3_objects_per_hour_lake"] * HOURS_PER_MONTH
    add(
        "Firehose",
        "dynamic partitioning (objects)",
        objects,
        "objects",
        "firehose_dynamic_partitioning_objects_per_1000",
        1000,
        "lake",
    )
    # No JQ: the processing Lambda gives each record's partition keys (featurepulse/lake/transform.py).
    compressed_total = events * compressed_bytes
    decompressed_mb = events * stream_bytes / (1024 * 1024)
    invocations = max(compressed_total / TRANSFORM_BUFFER_BYTES, SECONDS_PER_MONTH / TRANSFORM_BUFFER_INTERVAL_S)
    add(
        "Lambda",
        "lake transform invocations (per 0.2 MB)",
        invocations,
        "requests",
        "lambda_requests_per_million",
        1e6,
        "lake",
    )
    transform_seconds = (
        decompressed_mb * figures["lake_transform_ms_per_mb"] + invocations * TRANSFORM_FIXED_MS_PER_INVOCATION
    ) / 1000
    add(
        "Lambda",
        f"lake transform duration ({TRANSFORM_MEMORY_MB} MB, arm64)",
        transform_seconds * TRANSFORM_MEMORY_MB / 1024,
        "GB-s",
        "lambda_arm_gb_second",
        1,
        "lake",
    )

    lake_gb_per_month = events * figures["lake_bytes_per_event"] / GB
    standard_gb = infrequent_gb = 0.0
    for age in range(workload.months_stored):  # data of each month kept, by its age at the end of the month
        if age * DAYS_PER_MONTH >= settings.lake_infrequent_access_days:
            infrequent_gb += lake_gb_per_month
        else:
            standard_gb += lake_gb_per_month
    add(
        "S3",
        f"lake storage, Standard (month {workload.months_stored})",
        standard_gb,
        "GB-month",
        "s3_standard_gb_month",
        1,
        "lake",
    )
    if infrequent_gb:
        add("S3", "lake storage, Standard-IA", infrequent_gb, "GB-month", "s3_standard_ia_gb_month", 1, "lake")
    add(
        "S3",
        "PUT requests (Firehose objects)",
        objects * S3_REQUESTS_PER_FIREHOSE_OBJECT,
        "requests",
        "s3_put_per_1000",
        1000,
        "lake",
    )
    objects_per_day = figures["s3_objects_per_hour_lake"] * 24
    adhoc_gets = workload.adhoc_queries_per_day * DAYS_PER_MONTH * objects_per_day * S3_GETS_PER_FILE_SCANNED
    add(
        "S3",
        "GET requests (ad-hoc queries, a day's files each)",
        adhoc_gets,
        "requests",
        "s3_get_per_1000",
        1000,
        "lake",
    )

    # --- Glue catalog and Athena (ad hoc) ----------------------------------------------------------------------
    catalog_objects = inventory.glue_databases + inventory.glue_tables
    add(
        "Glue",
        "Data Catalog objects (partition projection: no partitions)",
        catalog_objects,
        "objects",
        "glue_catalog_objects_per_100k_month",
        100_000,
        "lake",
    )
    catalog_requests = 60 * HOURS_PER_MONTH + workload.adhoc_queries_per_day * DAYS_PER_MONTH * 3
    add(
        "Glue",
        "Data Catalog requests (Firehose schema reads, queries)",
        catalog_requests,
        "requests",
        "glue_catalog_requests_per_million",
        1e6,
        "lake",
    )
    adhoc_bytes = (
        workload.adhoc_queries_per_day
        * DAYS_PER_MONTH
        * max(ATHENA_MIN_BYTES_PER_QUERY, workload.adhoc_mb_per_query * 1024 * 1024)
    )
    add(
        "Athena",
        f"ad-hoc queries ({workload.adhoc_queries_per_day:g}/day x {workload.adhoc_mb_per_query:g} MB)",
        adhoc_bytes / TB,
        "TB",
        "athena_tb_scanned",
        1,
        "lake",
    )

    # --- operations of the lake path: logs, metrics, alarms, traces, keys, erasure plumbing ---------------------
    log_bytes = figures["log_bytes_per_request"] + LAMBDA_PLATFORM_LOG_BYTES + ACCESS_LOG_BYTES_PER_REQUEST
    lake_log_gb = requests * log_bytes / GB
    add(
        "CloudWatch",
        "logs ingested (ingest metrics + API access log)",
        lake_log_gb,
        "GB",
        "cw_logs_ingest_gb",
        1,
        "lake",
    )
    add(
        "CloudWatch",
        "logs ingested (lake transform metrics)",
        invocations * TRANSFORM_LOG_BYTES_PER_INVOCATION / GB,
        "GB",
        "cw_logs_ingest_gb",
        1,
        "lake",
    )
    retention_months = settings.log_retention_days / DAYS_PER_MONTH
    add(
        "CloudWatch",
        f"logs stored ({settings.log_retention_days} days, compressed)",
        lake_log_gb * retention_months * LOG_STORAGE_COMPRESSION,
        "GB-month",
        "cw_logs_storage_gb_month",
        1,
        "lake",
    )
    add(
        "CloudWatch",
        "custom metrics (ingest EMF, erasure, lake transform)",
        INGEST_CUSTOM_METRICS + ERASURE_CUSTOM_METRICS + API_DETAILED_METRICS + TRANSFORM_CUSTOM_METRICS,
        "metrics",
        "cw_custom_metric_month",
        1,
        "lake",
    )
    add(
        "CloudWatch",
        "alarms (ingest, stream, Firehose, erasure)",
        inventory.alarm_metrics["lake"],
        "alarm metrics",
        "cw_alarm_metric_month",
        1,
        "lake",
    )
    add("CloudWatch", "dashboard", inventory.dashboards, "dashboards", "cw_dashboard_month", 1, "lake")
    if settings.trace_sample_rate is None:
        rps = workload.requests_per_second
        traces_per_second = min(rps, X_RAY_DEFAULT_RESERVOIR_PER_SECOND) + X_RAY_DEFAULT_FIXED_RATE * max(
            0.0, rps - X_RAY_DEFAULT_RESERVOIR_PER_SECOND
        )
        sampling = "default rule: 1/s + 5%"
    else:
        traces_per_second = workload.requests_per_second * settings.trace_sample_rate
        sampling = f"traceSampleRate {settings.trace_sample_rate:g}"
    add(
        "X-Ray",
        f"traces recorded ({sampling})",
        traces_per_second * SECONDS_PER_MONTH,
        "traces",
        "xray_traces_recorded_per_million",
        1e6,
        "lake",
    )
    add("KMS", "customer managed key", inventory.kms_keys, "keys", "kms_key_month", 1, "lake")
    add(
        "KMS",
        "requests (data keys reused 5 min)",
        KMS_CALLERS * KMS_REQUESTS_PER_CALLER_HOUR * HOURS_PER_MONTH,
        "requests",
        "kms_requests_per_10k",
        10_000,
        "lake",
    )
    add(
        "SNS, SQS, Scheduler",
        "erasure queue polling (Lambda, FIFO)",
        ERASURE_QUEUE_POLLS_PER_MONTH,
        "requests",
        "sqs_fifo_per_million",
        1e6,
        "lake",
    )
    add(
        "DynamoDB",
        "sources table reads (write keys, cached)",
        requests * SOURCES_READS_PER_REQUEST,
        "read units",
        "ddb_read_request_units_per_million",
        1e6,
        "lake",
    )

    # --- real time: Flink, the aggregates table, QuickSight ---------------------------------------------------
    kpus = math.ceil(settings.realtime_parallelism / settings.realtime_parallelism_per_kpu)
    add(
        "Managed Flink",
        f"{kpus} KPU + 1 orchestration KPU",
        (kpus + 1) * HOURS_PER_MONTH,
        "KPU-hours",
        "flink_kpu_hour",
        1,
        "realtime",
    )
    add(
        "Managed Flink",
        "running application storage (50 GB per KPU)",
        kpus * FLINK_RUNNING_STORAGE_GB_PER_KPU,
        "GB-month",
        "flink_running_storage_gb_month",
        1,
        "realtime",
    )
    write_units = figures["ddb_write_units_per_second_at_100_eps"] * workload.events_per_second / 100
    add(
        "DynamoDB",
        f"live aggregate writes (early firing every {settings.realtime_early_fire_delay_ms} ms)",
        write_units * SECONDS_PER_MONTH,
        "write units",
        "ddb_write_request_units_per_million",
        1e6,
        "realtime",
    )
    add("DynamoDB", "aggregates storage", AGGREGATES_TABLE_GB, "GB-month", "ddb_storage_gb_month", 1, "realtime")
    add(
        "DynamoDB",
        "aggregates point-in-time recovery",
        AGGREGATES_TABLE_GB,
        "GB-month",
        "ddb_pitr_gb_month",
        1,
        "realtime",
    )
    flink_log_gb = FLINK_LOG_BYTES_PER_DAY * DAYS_PER_MONTH / GB
    add("CloudWatch", "Flink logs ingested", flink_log_gb, "GB", "cw_logs_ingest_gb", 1, "realtime")
    add("CloudWatch", "Flink custom metrics", FLINK_CUSTOM_METRICS, "metrics", "cw_custom_metric_month", 1, "realtime")
    add(
        "CloudWatch",
        "alarms (Flink, data quality)",
        inventory.alarm_metrics["realtime"],
        "alarm metrics",
        "cw_alarm_metric_month",
        1,
        "realtime",
    )
    if settings.quicksight_enabled:
        add("QuickSight", "author (the dashboard's owner)", 1, "authors", "quicksight_author_month", 1, "realtime")
        add("QuickSight", "readers", workload.viewers, "readers", "quicksight_reader_month", 1, "realtime")
        panel_queries = (
            workload.viewers * workload.panel_loads_per_viewer_per_day * DAYS_PER_MONTH * PANEL_QUERIES_PER_LOAD
        )
        add(
            "Athena",
            "live panel queries (DynamoDB connector, 10 MB minimum)",
            panel_queries * ATHENA_MIN_BYTES_PER_QUERY / TB,
            "TB",
            "athena_tb_scanned",
            1,
            "realtime",
        )
        add(
            "Lambda",
            "DynamoDB connector invocations",
            panel_queries * 3,
            "requests",
            "lambda_requests_per_million",
            1e6,
            "realtime",
        )
        add(
            "Lambda",
            "DynamoDB connector duration (1,024 MB, x86_64)",
            panel_queries * CONNECTOR_GB_SECONDS_PER_QUERY,
            "GB-s",
            "lambda_x86_gb_second",
            1,
            "realtime",
        )
        add(
            "DynamoDB",
            "connector reads of the aggregates",
            panel_queries * CONNECTOR_READ_UNITS_PER_QUERY,
            "read units",
            "ddb_read_request_units_per_million",
            1e6,
            "realtime",
        )
    else:
        notes.append("QuickSight live panels are off in these settings (no quicksightPrincipalArn): not priced")

    # --- reports: the scheduled Glue job, its Athena queries, the mail -----------------------------------------
    if settings.reports_enabled:
        runs = DAYS_PER_MONTH + WEEKLY_RUNS_PER_MONTH
        minutes = max(GLUE_MINIMUM_BILLED_MINUTES, GLUE_MINUTES_PER_REPORT_RUN)
        add(
            "Glue",
            f"report job ({REPORT_JOB_DPU} DPU x {minutes:g} min, daily + weekly)",
            runs * REPORT_JOB_DPU * minutes / 60,
            "DPU-hours",
            "glue_dpu_hour",
            1,
            "reports",
        )
        per_query = figures["athena_bytes_scanned_per_report_day"] / max(1.0, figures["athena_queries_per_report_day"])
        report_bytes = runs * figures["athena_queries_per_report_day"] * max(ATHENA_MIN_BYTES_PER_QUERY, per_query)
        add("Athena", "report queries", report_bytes / TB, "TB", "athena_tb_scanned", 1, "reports")
        add(
            "SES",
            "report e-mails",
            runs * max(1, settings.report_recipients),
            "e-mails",
            "ses_per_1000_emails",
            1000,
            "reports",
        )
        add(
            "SNS, SQS, Scheduler",
            "report schedules",
            runs,
            "invocations",
            "scheduler_invocations_per_million",
            1e6,
            "reports",
        )
        add(
            "CloudWatch",
            "alarm (report job)",
            inventory.alarm_metrics["reports"],
            "alarm metrics",
            "cw_alarm_metric_month",
            1,
            "reports",
        )
    else:
        notes.append(
            "report schedules are disabled in these settings (no reportSender/reportRecipients): the report "
            "job and its queries are not priced"
        )
        add(
            "CloudWatch",
            "alarm (report job)",
            inventory.alarm_metrics["reports"],
            "alarm metrics",
            "cw_alarm_metric_month",
            1,
            "reports",
        )

    return Bill(
        lines=tuple(bill.lines),
        figures=figures,
        workload=workload,
        settings=settings,
        region=region,
        measured_at=measured.measured_at if measured else None,
        notes=tuple(notes),
    )


def prices_read_on() -> str:
    return PRICES_READ_ON
