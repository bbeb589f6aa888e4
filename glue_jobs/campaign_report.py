"""Glue job: the feature engagement / campaign report of a day or a week, mailed through SES.

Started by the EventBridge Scheduler schedules of the CDK `Reporting` construct (`--period day` daily,
`--period week` on Mondays) with the other arguments as the job's defaults. Runs on Glue 5.0 (Python 3.11)
as plain Python in the job's driver (no Spark): the project's packages come as the `--code_bundle` zip;
boto3, pandas, pyarrow and matplotlib are Glue 5.0's own modules, and every other third-party module is
pinned in `--additional-python-modules` (cdk/reporting.py; docs/reports.md).

Arguments (Glue passes `--name value`; unknown ones such as `--JOB_ID` are ignored, as with awsglue's
`getResolvedOptions`, which this script does not need):
  --period day|week           required
  --date YYYY-MM-DD|auto      a day of the period; `auto` (default): yesterday, or the week containing it
  --force true|false          send even if this period was already sent (default false)
  --database --events_table --workgroup                 where the lake table is, which workgroup runs
  --identities_table          the identity table in that database (default `identities`)
  --lake_bucket               the lake bucket: the identity table under its identity/ prefix is rebuilt before
                              the queries (featurepulse/identity/build.py, docs/identity.md); without it, no build
  --aggregates_table          the real-time aggregates table: the period's final days correct its live day rows
                              (featurepulse/realtime/finalize.py); without it, no correction
  --sender --recipients (comma-separated) --configuration_set   the e-mail
  --send_log_table            the DynamoDB table of the send record
  --min_exposed_per_variant   experiments: persons per variant below which the verdict is "collecting data"
  --experiments JSON          experiments: goal, split, control, start per experiment (docs/experiments.md)
  --segment_trait NAME        adoption by segment: the trait whose values are the segments (default `plan`)
  --audience_traits A,B       audiences: the traits written beside each person's user ids (default `plan`)
  --goals JSON                KPI goals: [{metric, feature, target, deadline}] (featurepulse/domain/goals.py)
                              With --lake_bucket, the audiences are written under its audiences/ prefix and the
                              e-mail links them with presigned URLs (docs/reports.md, "Audiences").
  --code_bundle s3://...zip   the featurepulse.reporting package and the SQL (set by the CDK construct):
                              extracted to /tmp and put first on sys.path before anything is imported
Any failure raises: the run fails, the Glue "job failed" event raises the alarm, and no e-mail is half sent.
A period without any event is not a failure: nothing is mailed, the reason is logged as a warning and the run
succeeds (no alarm; docs/reports.md, "Partial and empty periods").
"""

from __future__ import annotations

import logging
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # imported in the functions: on Glue, featurepulse is importable only after the bundle is
    from featurepulse.reporting.job import ReportSettings, RunOutcome
    from featurepulse.reporting.periods import Period
    from featurepulse.reporting.runners import QueryRunner

logger = logging.getLogger("featurepulse.glue.campaign_report")

REQUIRED = ("period", "database", "events_table", "workgroup", "sender", "recipients", "send_log_table")
OPTIONAL = (
    "identities_table",  # featurepulse.reporting.queries.IDENTITIES_TABLE_JOB_ARGUMENT
    "lake_bucket",  # cdk/identity.py JOB_ARGUMENT_LAKE_BUCKET
    "aggregates_table",
    "date",
    "force",
    "configuration_set",
    "min_exposed_per_variant",
    "experiments",
    "segment_trait",
    "audience_traits",
    "goals",
    "report_name",
    "code_bundle",
)


class JobArguments(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    period: Literal["day", "week"]
    database: str = Field(min_length=1)
    events_table: str = Field(min_length=1)
    identities_table: str = Field(default="identities", min_length=1)
    lake_bucket: str | None = None
    aggregates_table: str | None = None
    workgroup: str = Field(min_length=1)
    sender: str
    recipients: str
    send_log_table: str
    day: str = Field(default="auto", alias="date", pattern=r"^(auto|\d{4}-\d{2}-\d{2})$")
    force: bool = False
    configuration_set: str | None = None
    min_exposed_per_variant: int = 100
    experiments: str = ""  # JSON of the `experiments` setting (docs/experiments.md); empty: every default
    segment_trait: str = Field(default="plan", min_length=1)
    audience_traits: str = "plan"  # comma-separated (or a JSON list)
    goals: str = ""  # JSON of the `goals` setting; empty: no goal
    report_name: str = "feature-report"
    code_bundle: str | None = None

    def settings(self) -> ReportSettings:
        from featurepulse.reporting.job import ReportSettings

        return ReportSettings(
            sender=self.sender,
            recipients=self.recipients,  # a comma-separated list: ReportSettings splits it
            send_log_table=self.send_log_table,
            configuration_set=self.configuration_set or None,
            min_exposed_per_variant=self.min_exposed_per_variant,
            experiments=self.experiments,
            segment_trait=self.segment_trait,
            audience_traits=self.audience_traits,
            goals=self.goals,
            report_name=self.report_name,
        )

    def report_period(self, today: date) -> Period:
        from featurepulse.reporting.periods import Period

        if self.day == "auto":
            return Period.last_complete(self.period, today)
        return Period.containing(self.period, date.fromisoformat(self.day))


def resolve_options(argv: Sequence[str], required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, str]:
    """awsglue's getResolvedOptions without awsglue: `--name value` or `--name=value` for the names asked."""
    wanted = set(required) | set(optional)
    found: dict[str, str] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("--"):
            name, has_value, value = token[2:].partition("=")
            if not has_value and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
                i += 1
            if name in wanted:
                found[name] = value
        i += 1
    missing = [name for name in required if name not in found]
    if missing:
        raise SystemExit(f"missing job arguments: {', '.join('--' + m for m in missing)}")
    return found


def parse_job_arguments(argv: Sequence[str]) -> JobArguments:
    return JobArguments.model_validate(resolve_options(argv, REQUIRED, OPTIONAL))


def install_code_bundle(url: str, s3_client: Any, target: Path | None = None) -> Path:
    """Download the code bundle (s3://bucket/key.zip), extract it, and put it first on sys.path."""
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not bucket or not key:
        raise SystemExit(f"--code_bundle must be s3://bucket/key.zip, got {url!r}")
    target = target or Path(tempfile.mkdtemp(prefix="featurepulse-code-"))
    target.mkdir(parents=True, exist_ok=True)
    archive = target / "bundle.zip"
    s3_client.download_file(bucket, key, str(archive))
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(target / "code")
    sys.path.insert(0, str(target / "code"))
    return target / "code"


def _day_finalizer(args: JobArguments, session: Any, now: datetime) -> Any:
    """The live rows' daily correction when the job is given the aggregates table (imported only then)."""
    if not args.aggregates_table:
        return None
    from featurepulse.realtime.finalize import DayFinalizer

    return DayFinalizer(session.client("dynamodb"), args.aggregates_table, now)


def identity_build(args: JobArguments, session: Any) -> Callable[[], object] | None:
    """The identity table's build before the queries (docs/identity.md), when the job knows the lake bucket."""
    if not args.lake_bucket:
        return None
    from featurepulse.identity.build import athena_refresher

    return athena_refresher(
        session=session,
        lake_bucket=args.lake_bucket,
        database=args.database,
        events_table=args.events_table,
        workgroup=args.workgroup,
    )


def audience_store(args: JobArguments, session: Any) -> Any:
    """The lake bucket's audiences/ prefix, with presigned links (featurepulse/reporting/audiences.py)."""
    if not args.lake_bucket:
        return None
    from botocore.config import Config

    from featurepulse.reporting.audiences import S3AudienceStore

    # SigV4 links (S3's current signature; its presigned URLs live at most 7 days, the links' expiry).
    return S3AudienceStore(session.client("s3", config=Config(signature_version="s3v4")), args.lake_bucket)


def main(
    argv: Sequence[str],
    *,
    now: datetime | None = None,
    runner: QueryRunner | None = None,
    boto3_session: Any = None,
) -> RunOutcome:
    import boto3

    from featurepulse.reporting.athena_runner import AthenaQueryRunner
    from featurepulse.reporting.dal.send_log import DynamoDbSendLog
    from featurepulse.reporting.dal.ses_mailer import SesMailer
    from featurepulse.reporting.job import run_report

    args = parse_job_arguments(argv)
    now = now or datetime.now(UTC)
    session = boto3_session or boto3.session.Session()
    period = args.report_period(now.date())
    logger.info("report %s for %s to %s", args.period, period.start, period.end)
    outcome = run_report(
        runner=runner
        or AthenaQueryRunner(
            database=args.database,
            table=args.events_table,
            identities_table=args.identities_table,
            workgroup=args.workgroup,
            boto3_session=session,
        ),
        period=period,
        settings=args.settings(),
        send_log=DynamoDbSendLog(session.client("dynamodb"), args.send_log_table),
        mailer=SesMailer(session.client("sesv2"), configuration_set=args.configuration_set or None),
        now=now,
        force=args.force,
        before_queries=identity_build(args, session),
        finalize_days=_day_finalizer(args, session, now),
        audience_store=audience_store(args, session),
    )
    if outcome.status == "sent":
        logger.info("report %s: sent (message %s)", outcome.report_key, outcome.message_id)
    else:
        logger.info("report %s: %s, nothing sent: %s", outcome.report_key, outcome.status, outcome.reason)
    return outcome


def glue_entry(argv: Sequence[str]) -> None:
    """What Glue runs: install the code bundle when given, then the job."""
    import boto3

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    bundle = resolve_options(argv, (), ("code_bundle",)).get("code_bundle")
    if bundle:
        install_code_bundle(bundle, boto3.client("s3"))
    main(argv)


if __name__ == "__main__":
    glue_entry(sys.argv[1:])
