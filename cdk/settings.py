"""Per-environment knobs of the stack: CDK context values parsed once into one pydantic model.

`app.py` reads every field's alias from the CDK context (`cdk.json`, `cdk.context.json` or `-c key=value`)
and passes the model to the stack, which hands plain values to the constructs. Values given with `-c` on
the command line arrive as strings, so list, dict, int and bool fields also accept their text forms
(`-c corsAllowOrigins=https://a.example,https://b.example`, `-c stageMap='{"Opened": "view"}'`).

Every field is documented in docs/deploy.md (a test checks that each alias appears there).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from aws_cdk import aws_logs as logs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cdk.athena_connector import DEFAULT_CONNECTOR_VERSION, connector_release_problem
from featurepulse.domain.goals import GoalsConfig
from featurepulse.domain.stages import DEFAULT_STAGE_MAP, parse_stage_map
from featurepulse.realtime.settings import RealtimeSettings, RealtimeSettingsError
from featurepulse.reporting.experiments_config import ExperimentsConfig

# CloudWatch Logs accepts only these retention periods (days), named by CDK's RetentionDays enum.
LOG_RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}
# API Gateway's hard ceiling on an integration's duration: the Lambda must answer before it.
API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 29
# Time the handler needs besides the PutRecords retries (parse, quarantine write, answer).
PUT_BUDGET_HEADROOM_MS = 2000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Sizing a provisioned stream (`streamMode=auto`; docs/deploy.md, "Sizing the stream"). Per-shard limits of Kinesis
# Data Streams: writes 1 MiB/s and 1,000 records/s; reads 2 MiB/s and 5 GetRecords calls/s, shared by every
# consumer that polls (Firehose and the Flink job both do).
SHARD_WRITE_BYTES_PER_SECOND = 1024 * 1024
SHARD_WRITE_RECORDS_PER_SECOND = 1000
SHARD_READ_BYTES_PER_SECOND = 2 * 1024 * 1024
STREAM_CONSUMERS = 2  # Firehose (lake) and the Flink job (live aggregates)
# Bytes on the stream per byte a client sends: ingest adds its columns (ids, times, campaign, country, IP prefix)
# and keeps `properties` and `context` as JSON text. Measured with the sample track event of tests/events: 1,084
# bytes sent, 1,725 bytes on the stream (1.59).
STREAM_BYTES_PER_SENT_BYTE = 1.6
# Clients flush on timers and reconnect in waves: size writes for 4x the mean rate in any one second. A burst above
# that is refused in part by Kinesis; the ingest handler retries the refused records within its time budget, then
# answers 503 + Retry-After and the client sends the whole request again (nothing is dropped).
STREAM_BURST_FACTOR = 4.0
# Read capacity kept free for catching up (a Flink restart replays from its last checkpoint; Firehose after a
# throttled read): the consumers' steady reads use at most half of it.
STREAM_READ_UTILISATION = 0.5


def stream_shards_for(events_per_second: int, event_bytes: int) -> int:
    """Shards a provisioned stream needs for `events_per_second` events of `event_bytes` (as sent) on average.

    Writes: bytes and records at STREAM_BURST_FACTOR x the mean (one record per event at worst: a batch of many
    users packs one record per user). Reads: STREAM_CONSUMERS full copies of the mean within STREAM_READ_UTILISATION
    of the 2 MiB/s per shard. At least one shard.
    """
    stream_bytes = events_per_second * event_bytes * STREAM_BYTES_PER_SENT_BYTE
    needs = (
        stream_bytes * STREAM_BURST_FACTOR / SHARD_WRITE_BYTES_PER_SECOND,
        events_per_second * STREAM_BURST_FACTOR / SHARD_WRITE_RECORDS_PER_SECOND,
        stream_bytes * STREAM_CONSUMERS / (SHARD_READ_BYTES_PER_SECOND * STREAM_READ_UTILISATION),
    )
    return max(1, math.ceil(max(needs) - 1e-9))


class SettingsError(ValueError):
    """A context value is invalid: one readable line per problem, raised before any construct is built."""


class StackSettings(BaseModel):
    """The deploy-time parameters. Aliases are the CDK context keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    stack_name: str = Field(default="FeaturePulse", alias="stackName", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    # Kinesis: `auto` sizes a provisioned stream from the expected traffic (stream_shards_for, docs/deploy.md).
    stream_mode: Literal["auto", "on-demand", "provisioned"] = Field(default="auto", alias="streamMode")
    shard_count: int = Field(default=1, alias="shardCount", ge=1, le=10_000)
    stream_retention_hours: int = Field(default=24, alias="streamRetentionHours", ge=24, le=8760)
    expected_events_per_second: int = Field(default=100, alias="expectedEventsPerSecond", ge=1, le=1_000_000)
    expected_event_bytes: int = Field(default=1000, alias="expectedEventBytes", ge=100, le=32 * 1024)
    # X-Ray: the share of ingest requests traced (an X-Ray sampling rule on the API stage; cdk/ingest_api.py).
    trace_sample_rate: float = Field(default=0.05, alias="traceSampleRate", ge=0.0, le=1.0)
    # API Gateway stage and WAF. WAF is opt-in (docs/deploy.md, "Protection"; docs/decisions.md): without it the stage
    # throttling and the handler's own limits protect the API; with it, per-IP rate limiting and AWS managed rules.
    api_stage_name: str = Field(default="prod", alias="apiStageName", pattern=r"^[A-Za-z0-9_]{1,128}$")
    throttle_rate_limit: float = Field(default=500.0, alias="throttleRateLimit", gt=0)
    throttle_burst_limit: int = Field(default=1000, alias="throttleBurstLimit", ge=1, le=5000)
    waf_enabled: bool = Field(default=False, alias="wafEnabled")
    waf_rate_limit: int = Field(default=6000, alias="wafRateLimit", ge=10, le=2_000_000_000)
    waf_count_only_rules: tuple[str, ...] = Field(default=("SizeRestrictions_BODY",), alias="wafCountOnlyRules")
    cors_allow_origins: tuple[str, ...] = Field(default=("*",), alias="corsAllowOrigins", min_length=1)
    # The ingest Lambda.
    stage_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_STAGE_MAP), alias="stageMap")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", alias="logLevel")
    ingest_memory_mb: int = Field(default=512, alias="ingestMemoryMb", ge=128, le=10_240)
    ingest_timeout_seconds: int = Field(
        default=10, alias="ingestTimeoutSeconds", ge=3, le=API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS
    )
    put_time_budget_ms: int = Field(default=3000, alias="putTimeBudgetMs", ge=100)
    ingest_reserved_concurrency: int | None = Field(default=None, alias="ingestReservedConcurrency", ge=1)
    # Operations.
    log_retention_days: int = Field(default=30, alias="logRetentionDays")
    alarm_email: str | None = Field(default=None, alias="alarmEmail")
    # Lake bucket lifecycle (DataBucket).
    quarantine_infrequent_access_days: int = Field(default=30, alias="quarantineInfrequentAccessDays", ge=30)
    lake_infrequent_access_days: int = Field(default=90, alias="lakeInfrequentAccessDays", ge=30)
    noncurrent_version_expiration_days: int = Field(default=30, alias="noncurrentVersionExpirationDays", ge=1)
    access_log_expiration_days: int = Field(default=90, alias="accessLogExpirationDays", ge=1)
    # The lake (cdk/lake.py, cdk/erasure.py; docs/lake.md explains each and the buffering trade-off).
    lake_buffer_interval_seconds: int = Field(default=900, alias="lakeBufferIntervalSeconds", ge=60, le=900)
    lake_buffer_size_mib: int = Field(default=128, alias="lakeBufferSizeMiB", ge=64, le=128)
    lake_projection_start_date: str = Field(
        default="2025-01-01", alias="lakeProjectionStartDate", pattern=r"^\d{4}-\d{2}-\d{2}$"
    )
    lake_errors_expiration_days: int = Field(default=90, alias="lakeErrorsExpirationDays", ge=1)
    athena_bytes_scanned_cutoff_mb: int = Field(default=10_240, alias="athenaBytesScannedCutoffMb", ge=10)
    athena_results_expiration_days: int = Field(default=7, alias="athenaResultsExpirationDays", ge=1)
    erasure_memory_mb: int = Field(default=3008, alias="erasureMemoryMb", ge=1024, le=10_240)
    # Reports (cdk/reporting.py; docs/reports.md). Without a sender and recipients the schedules stay disabled.
    report_sender: str | None = Field(default=None, alias="reportSender")
    report_recipients: tuple[str, ...] = Field(default=(), alias="reportRecipients")
    report_daily_schedule: str = Field(
        default="cron(0 6 * * ? *)", alias="reportDailySchedule", pattern=r"^cron\(.+\)$"
    )
    report_weekly_schedule: str = Field(
        default="cron(0 7 ? * MON *)", alias="reportWeeklySchedule", pattern=r"^cron\(.+\)$"
    )
    report_time_zone: str = Field(default="UTC", alias="reportTimeZone", min_length=1)
    report_min_exposed_per_variant: int = Field(default=100, alias="reportMinExposedPerVariant", ge=1)
    report_experiments: ExperimentsConfig = Field(default_factory=lambda: ExperimentsConfig({}), alias="experiments")
    # Adoption by segment, audiences' traits, KPI goals (docs/reports.md; goals name catalogue metrics).
    report_segment_trait: str = Field(default="plan", alias="reportSegmentTrait", min_length=1, max_length=200)
    report_audience_traits: tuple[str, ...] = Field(default=("plan",), alias="reportAudienceTraits")
    report_goals: GoalsConfig = Field(default_factory=lambda: GoalsConfig(()), alias="goals")
    # Real time (cdk/realtime.py, cdk/quicksight.py; docs/realtime.md).
    realtime_parallelism: int = Field(default=1, alias="realtimeParallelism", ge=1, le=1000)
    realtime_parallelism_per_kpu: int = Field(default=1, alias="realtimeParallelismPerKpu", ge=1, le=8)
    realtime_autoscaling: bool = Field(default=True, alias="realtimeAutoScaling")
    realtime_checkpoint_interval_ms: int = Field(default=60_000, alias="realtimeCheckpointIntervalMs", ge=5_000)
    realtime_initial_position: Literal["TRIM_HORIZON", "LATEST"] = Field(
        default="TRIM_HORIZON", alias="realtimeInitialPosition"
    )
    realtime_allowed_lateness_seconds: int = Field(default=300, alias="realtimeAllowedLatenessSeconds", ge=0)
    realtime_out_of_orderness_seconds: int = Field(default=5, alias="realtimeOutOfOrdernessSeconds", ge=0)
    realtime_early_fire_delay_ms: int = Field(default=5000, alias="realtimeEarlyFireDelayMs", ge=100)
    realtime_minute_ttl_hours: int = Field(default=48, alias="realtimeMinuteTtlHours", ge=1)
    realtime_day_ttl_days: int = Field(default=90, alias="realtimeDayTtlDays", ge=1)
    realtime_log_level: Literal["DEBUG", "INFO", "WARN", "ERROR"] = Field(default="INFO", alias="realtimeLogLevel")
    quicksight_principal_arn: str | None = Field(
        default=None,
        alias="quicksightPrincipalArn",
        pattern=r"^arn:aws[a-z-]*:quicksight:[a-z0-9-]+:\d{12}:(user|group)/.+$",
    )
    quicksight_athena_connector_version: str = Field(
        default=DEFAULT_CONNECTOR_VERSION, alias="quicksightAthenaConnectorVersion", pattern=r"^\d+\.\d+\.\d+$"
    )
    quicksight_service_role_name: str = Field(
        default="aws-quicksight-service-role-v0", alias="quicksightServiceRoleName", min_length=1
    )
    # Development: package the Lambda's source without `pip install` of its dependencies (fast test synth).
    skip_lambda_dependencies: bool = Field(default=False, alias="skipLambdaDependencies")

    @field_validator("cors_allow_origins", "waf_count_only_rules", "report_audience_traits", mode="before")
    @classmethod
    def _split_text_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return value

    @field_validator("report_recipients", mode="before")
    @classmethod
    def _split_recipients(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("report_sender", mode="before")
    @classmethod
    def _empty_sender_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("report_sender")
    @classmethod
    def _check_sender(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"not an e-mail address: {value!r}")
        return value

    @field_validator("report_recipients")
    @classmethod
    def _check_recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in value if not _EMAIL.match(r)]
        if bad:
            raise ValueError(f"not e-mail addresses: {bad}")
        return value

    @field_validator("stage_map", mode="before")
    @classmethod
    def _parse_stage_map(cls, value: Any) -> Any:
        # One parser for CDK and the Lambda: a typo in a stage name fails the synth, not the funnel.
        text = value if isinstance(value, str) else json.dumps(value)
        return parse_stage_map(text)

    @field_validator("alarm_email", mode="before")
    @classmethod
    def _empty_email_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("alarm_email")
    @classmethod
    def _check_email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"not an e-mail address: {value!r}")
        return value

    @field_validator("quicksight_athena_connector_version")
    @classmethod
    def _check_connector_version(cls, value: str) -> str:
        # A release Lambda can no longer create would fail `cdk deploy` (cdk/athena_connector.py): fail the synth.
        problem = connector_release_problem(value, today=datetime.now(UTC).date())
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _check_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION:
            raise ValueError(f"CloudWatch Logs accepts only {sorted(LOG_RETENTION)} days, not {value}")
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"CORS origin must be '*' or scheme://host[:port] without a path: {origin!r}")
        if "*" in value and len(value) > 1:
            raise ValueError("'*' cannot be combined with other CORS origins")
        return value

    @model_validator(mode="after")
    def _check_put_budget(self) -> StackSettings:
        ceiling = self.ingest_timeout_seconds * 1000 - PUT_BUDGET_HEADROOM_MS
        if self.put_time_budget_ms > ceiling:
            raise ValueError(
                f"putTimeBudgetMs={self.put_time_budget_ms} leaves the handler no time to answer before its "
                f"{self.ingest_timeout_seconds}s timeout; use at most {ceiling} or raise ingestTimeoutSeconds"
            )
        return self

    @model_validator(mode="after")
    def _check_shard_count_mode(self) -> StackSettings:
        # A shard count with `auto` or `on-demand` would be ignored in silence: say so instead.
        if "shard_count" in self.model_fields_set and self.stream_mode != "provisioned":
            raise ValueError(
                f"shardCount applies only to streamMode=provisioned (streamMode is {self.stream_mode!r}; with "
                "auto the shards come from expectedEventsPerSecond and expectedEventBytes)"
            )
        return self

    @model_validator(mode="after")
    def _check_waf_keys(self) -> StackSettings:
        # The web ACL's knobs without the web ACL would be ignored in silence: say so instead.
        given = sorted(
            alias
            for name, alias in (("waf_rate_limit", "wafRateLimit"), ("waf_count_only_rules", "wafCountOnlyRules"))
            if name in self.model_fields_set
        )
        if given and not self.waf_enabled:
            verb = "applies" if len(given) == 1 else "apply"
            raise ValueError(f"{' and '.join(given)} {verb} only with wafEnabled=true (WAF is off by default)")
        return self

    @model_validator(mode="after")
    def _check_realtime(self) -> StackSettings:
        self.realtime_settings  # noqa: B018 (raises on an inconsistent combination)
        return self

    @property
    def realtime_settings(self) -> RealtimeSettings:
        """The real-time job's settings (its runtime properties), from the `realtime*` context values."""
        try:
            return RealtimeSettings(
                allowed_lateness_s=self.realtime_allowed_lateness_seconds,
                out_of_orderness_s=self.realtime_out_of_orderness_seconds,
                early_fire_delay_ms=self.realtime_early_fire_delay_ms,
                # Event ids are remembered well past the lateness (a duplicate later than that is late anyway).
                dedup_retention_s=max(
                    3600, self.realtime_allowed_lateness_seconds + self.realtime_out_of_orderness_seconds + 600
                ),
                minute_ttl_s=self.realtime_minute_ttl_hours * 3600,
                day_ttl_s=self.realtime_day_ttl_days * 86_400,
            )
        except RealtimeSettingsError as exc:
            raise ValueError(str(exc)) from None

    @property
    def stream_capacity_mode(self) -> Literal["on-demand", "provisioned"]:
        """The stream's capacity mode as deployed (`auto` deploys a provisioned stream)."""
        return "on-demand" if self.stream_mode == "on-demand" else "provisioned"

    @property
    def stream_shard_count(self) -> int | None:
        """The provisioned stream's shards (`shardCount`, or sized from the expected traffic); None when on-demand."""
        if self.stream_mode == "on-demand":
            return None
        if self.stream_mode == "provisioned":
            return self.shard_count
        return stream_shards_for(self.expected_events_per_second, self.expected_event_bytes)

    @property
    def log_retention(self) -> logs.RetentionDays:
        """`logRetentionDays` as CDK's enum, for every log group of the stack."""
        return LOG_RETENTION[self.log_retention_days]

    @property
    def stage_map_json(self) -> str:
        """The stage map as the Lambda reads it (env var FEATUREPULSE_STAGE_MAP)."""
        return json.dumps(self.stage_map, sort_keys=True, separators=(",", ":"))

    @classmethod
    def context_keys(cls) -> tuple[str, ...]:
        """The CDK context keys this model reads (its field aliases)."""
        return tuple(field.alias or name for name, field in cls.model_fields.items())

    def switched_off(self) -> list[str]:
        """The optional parts this configuration leaves out or disables, each with the context that turns it on.

        The synth prints them once (app.py), so nothing is disabled without a word.
        """
        notes = []
        if self.quicksight_principal_arn is None:
            notes.append("QuickSight live panels: not created (set -c quicksightPrincipalArn=<user or group ARN>)")
        if not (self.report_sender and self.report_recipients):
            have = (
                "a sender but no recipients"
                if self.report_sender
                else ("recipients but no sender" if self.report_recipients else "neither sender nor recipients")
            )
            notes.append(
                f"report e-mails: the daily and weekly schedules are created DISABLED ({have}; set both "
                "-c reportSender=... and -c reportRecipients=...)"
            )
        if self.alarm_email is None:
            notes.append("alarm e-mails: nobody subscribed to the alarm topic (set -c alarmEmail=...)")
        if not self.waf_enabled:
            notes.append(
                "WAF web ACL: not created; stage throttling and the handler's limits protect the API (set "
                "-c wafEnabled=true for per-IP rate limiting and AWS managed rules, docs/deploy.md 'Protection')"
            )
        return notes

    @classmethod
    def unknown_context_keys(cls, context: Mapping[str, Any]) -> list[str]:
        """One message per context key this model does not read, naming the closest valid key.

        CDK feature flags (`@aws-cdk/...`) and the CLI's own keys (`aws:cdk:...`) are not ours; every other key
        is a deploy parameter, and a misspelt one must not be dropped in silence (`streamMod=provisioned`).
        """
        known = cls.context_keys()
        messages = []
        for key in sorted(context):
            if key.startswith("@") or ":" in key or key in known:
                continue
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6) or difflib.get_close_matches(
                key.lower(), [k.lower() for k in known], n=1, cutoff=0.6
            )
            hint = ""
            if close:
                suggestion = next(k for k in known if k.lower() == close[0].lower())
                hint = f" (did you mean {suggestion!r}?)"
            messages.append(f"unknown context key {key!r}{hint}")
        return messages

    @classmethod
    def from_context(cls, try_get_context: Callable[[str], Any]) -> StackSettings:
        """Build the settings from a context lookup (`app.node.try_get_context`); absent keys take defaults."""
        values: dict[str, Any] = {}
        for key in cls.context_keys():
            value = try_get_context(key)
            if value is not None:
                values[key] = value
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> StackSettings:
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'context'}: {error['msg']}" for error in exc.errors()
            )
            raise SettingsError(f"invalid CDK context: {problems}") from None
