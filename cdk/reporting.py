"""Reports (docs/design.md section 5): the Glue job that queries Athena and mails the report, its EventBridge
Scheduler schedules (daily and weekly), the SES sender identity and configuration set, the send record table,
a least-privilege role, and a failure alarm.

The runtime is a Glue 5.0 job (`glueetl`, Python 3.11: the project's own Python; Glue Python shell stops at
Python 3.9). The script never starts Spark: it is plain Python run by the job's driver. Its code:
`glue_jobs/campaign_report.py` is the script asset; the packages of `cdk.runtime_sources.REPORT_JOB_SOURCES`,
shipped whole, and `athena_queries/*.sql` travel as a second asset, a zip the script extracts at start
(`--code_bundle`). A zip, not a wheel: CDK names assets by hash, and pip refuses a wheel whose file name is
not a wheel name.

Third-party modules: Glue 5.0 provides boto3, pandas, pyarrow, numpy and matplotlib ("Python modules
already provided in AWS Glue", version 5.0: boto3 1.34.131, pandas 2.2.2, pyarrow 17.0.0, numpy 1.26.4,
matplotlib 3.9.0); everything else the shipped code imports is pinned in `--additional-python-modules`
(pip at job start), with the dependencies those pins pull in, so no run installs a version nobody chose.
tests/deploy/test_report_job_artifact.py installs exactly that (Glue 5.0's modules at their versions, then
this list) into a Python 3.11 venv and runs the job from cdk.out.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack, TimeZone
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sns as sns
from cdk_nag import RegexAppliesTo
from constructs import Construct

from cdk.monitoring import Monitoring
from cdk.nag import suppress
from cdk.runtime_sources import REPORT_JOB_SOURCES
from featurepulse.reporting.audiences import AUDIENCES_PREFIX
from featurepulse.reporting.dal.send_log import PARTITION_KEY

REPO_ROOT = Path(__file__).resolve().parent.parent
JOB_SCRIPT = REPO_ROOT / "glue_jobs" / "campaign_report.py"
BUNDLE_PARENT = REPO_ROOT / ".build"
GLUE_VERSION = glue.GlueVersion.V5_0
# Installed by Glue with pip at job start: every third-party module the shipped code imports that Glue 5.0
# does not provide (pydantic, sqlglot, orjson, awswrangler for Athena), and what they depend on, pinned.
ADDITIONAL_PYTHON_MODULES: tuple[str, ...] = (
    "pydantic==2.14.4",
    "pydantic-core==2.50.5",
    "annotated-types==0.8.0",
    "typing-inspection==0.4.5",
    "typing-extensions==4.16.0",
    "sqlglot==30.30.0",
    "orjson==3.13.0",
    "awswrangler==3.17.1",
)
GLUE_FAILED_STATES = ("FAILED", "TIMEOUT", "ERROR")


def stage_code_bundle(out_dir: Path | None = None) -> Path:
    """Copy the report job's packages (whole) into `out_dir` (default: a new folder under .build/), and the SQL.

    The SQL lands in `featurepulse/_athena_queries/`, where `featurepulse.reporting.queries` looks when there
    is no checkout around it. Deterministic (same inputs, same files), so the asset hash only changes with
    the code. A new folder per synth: two synths at once (tests, a second shell) never share one; CDK copies
    the asset into cdk.out, and the folder is removed when the process exits.
    """
    if out_dir is None:
        BUNDLE_PARENT.mkdir(parents=True, exist_ok=True)
        out_dir = Path(tempfile.mkdtemp(prefix="glue-report-bundle-", dir=BUNDLE_PARENT))
        atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    REPORT_JOB_SOURCES.copy_to(out_dir, REPO_ROOT)
    queries = out_dir / "featurepulse" / "_athena_queries"
    queries.mkdir()
    for sql in sorted((REPO_ROOT / "athena_queries").glob("*.sql")):
        shutil.copyfile(sql, queries / sql.name)
    return out_dir


def recipient_identity_names(recipients: Sequence[str]) -> list[str]:
    """The SES identities a sandboxed account checks for these recipients: each address and its domain."""
    names: list[str] = []
    for address in recipients:
        for name in (address, address.rpartition("@")[2]):
            if name and name not in names:
                names.append(name)
    return names


class Reporting(Construct):
    """`job`, `role`, `send_log_table`, `configuration_set`, `sender_identity` (None without a sender),
    `daily_schedule`, `weekly_schedule`, `failure_rule`.

    `extra_job_arguments` (`--name` -> value) join the job's default arguments (e.g. tables another
    capability owns); one that would replace an argument this construct sets is refused.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake_bucket: s3.IBucket,
        events_prefix: str,
        results_bucket: s3.IBucket,
        results_prefix: str,
        encryption_key: kms.IKey,
        glue_database_name: str,
        events_table_name: str,
        workgroup_name: str,
        alarm_topic: sns.ITopic,
        sender: str | None,
        recipients: Sequence[str],
        daily_schedule: str,
        weekly_schedule: str,
        schedule_time_zone: str,
        min_exposed_per_variant: int,
        code_bundle_dir: Path | None = None,
        extra_job_arguments: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        enabled = bool(sender and recipients)
        self.recipients = tuple(recipients)

        self.send_log_table = dynamodb.Table(
            self,
            "SendLog",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=RemovalPolicy.DESTROY,  # a record of sent e-mails; losing it risks one re-send
        )

        self.configuration_set = ses.ConfigurationSet(
            self,
            "ConfigurationSet",
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        self.sender_identity: ses.EmailIdentity | None = None
        if sender:
            self.sender_identity = ses.EmailIdentity(
                self,
                "SenderIdentity",
                identity=ses.Identity.email(sender),
                configuration_set=self.configuration_set,
            )

        self.role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="featurepulse report job: reads the lake through Athena, sends the report with SES",
        )
        # Code.from_bucket on the asset: the job may read exactly its script (Code.from_asset grants the bucket).
        script_asset = s3_assets.Asset(self, "Script", path=str(JOB_SCRIPT))
        script = glue.Code.from_bucket(script_asset.bucket, script_asset.s3_object_key)
        bundle = s3_assets.Asset(self, "CodeBundle", path=str(code_bundle_dir or stage_code_bundle()))
        # The exact bundle object (Asset.grant_read would open the whole CDK assets bucket).
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bundle.bucket.arn_for_objects(bundle.s3_object_key)]
            )
        )

        security_configuration = glue.SecurityConfiguration(
            self,
            "SecurityConfiguration",
            cloud_watch_encryption=glue.CloudWatchEncryption.kms(encryption_key),
            job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(encryption_key),
            s3_encryption=glue.S3Encryption.kms(encryption_key),
        )
        default_arguments = {
            "--code_bundle": bundle.s3_object_url,
            "--additional-python-modules": ",".join(ADDITIONAL_PYTHON_MODULES),
            "--database": glue_database_name,
            "--events_table": events_table_name,
            "--workgroup": workgroup_name,
            "--sender": sender or "",
            "--recipients": ",".join(recipients),
            "--configuration_set": self.configuration_set.configuration_set_name,
            "--send_log_table": self.send_log_table.table_name,
            "--min_exposed_per_variant": str(min_exposed_per_variant),
            "--period": "day",
            "--date": "auto",
        }
        for name, value in (extra_job_arguments or {}).items():
            if not name.startswith("--"):
                raise ValueError(f"job argument {name!r} must start with --")
            if name in default_arguments:
                raise ValueError(f"job argument {name} is set by the Reporting construct itself")
            default_arguments[name] = value
        # Glue 5.0, the smallest Spark worker set (2 x G.1X; 1 minute minimum billing): the script is plain
        # Python in the driver, so the size only matters for the start-up time.
        self.job = glue.PySparkEtlJob(
            self,
            "Job",
            role=self.role,
            script=script,
            glue_version=GLUE_VERSION,
            worker_configuration=glue.WorkerConfiguration(worker_type=glue.WorkerType.G_1X, number_of_workers=2),
            enable_metrics=False,  # Spark metrics of a job that runs no Spark
            enable_observability_metrics=False,
            timeout=Duration.minutes(30),
            max_retries=0,  # a failed run alarms; the next scheduled run (or a manual one) sends the period
            max_concurrent_runs=2,  # the daily and the weekly run may overlap on Mondays
            security_configuration=security_configuration,
            description="featurepulse: engagement and campaign report of a day or a week, mailed through SES",
            default_arguments=default_arguments,
        )
        self._grant(
            stack=stack,
            lake_bucket=lake_bucket,
            events_prefix=events_prefix,
            results_bucket=results_bucket,
            results_prefix=results_prefix,
            encryption_key=encryption_key,
            glue_database_name=glue_database_name,
            events_table_name=events_table_name,
            workgroup_name=workgroup_name,
        )

        zone = TimeZone.of(schedule_time_zone)
        self.daily_schedule = self._schedule("DailySchedule", "day", daily_schedule, zone, enabled)
        self.weekly_schedule = self._schedule("WeeklySchedule", "week", weekly_schedule, zone, enabled)

        # A failed, timed-out or crashed run: EventBridge sends the event (run id, error) to the alarm topic.
        self.failure_rule = events.Rule(
            self,
            "JobFailed",
            description="featurepulse report job run failed",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [self.job.job_name], "state": list(GLUE_FAILED_STATES)},
            ),
            targets=[events_targets.SnsTopic(alarm_topic)],
        )
        # EventBridge publishes to the KMS-encrypted alarm topic: it needs a data key.
        encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeToPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )

    def _schedule(
        self, construct_id: str, period: str, expression: str, zone: TimeZone, enabled: bool
    ) -> scheduler.Schedule:
        target = scheduler_targets.Universal(
            service="glue",
            action="startJobRun",
            input=scheduler.ScheduleTargetInput.from_object(
                {"JobName": self.job.job_name, "Arguments": {"--period": period, "--date": "auto"}}
            ),
            policy_statements=[iam.PolicyStatement(actions=["glue:StartJobRun"], resources=[self.job.job_arn])],
            retry_attempts=2,
            max_event_age=Duration.hours(1),
        )
        return scheduler.Schedule(
            self,
            construct_id,
            schedule=scheduler.ScheduleExpression.expression(expression, zone),
            target=target,
            description=f"featurepulse {period} report",
            enabled=enabled,
        )

    def _grant(
        self,
        *,
        stack: Stack,
        lake_bucket: s3.IBucket,
        events_prefix: str,
        results_bucket: s3.IBucket,
        results_prefix: str,
        encryption_key: kms.IKey,
        glue_database_name: str,
        events_table_name: str,
        workgroup_name: str,
    ) -> None:
        """Exactly what the job calls: Athena in its workgroup, the catalog entries of the events table, the
        lake's `events/` objects (Athena reads them with the caller's rights), the results prefix, SES on the
        sender identity, the send record, the key, and the job's own logs."""
        role = self.role
        arn = f"arn:{stack.partition}"
        region_account = f"{stack.region}:{stack.account}"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                    "athena:GetWorkGroup",
                ],
                resources=[f"{arn}:athena:{region_account}:workgroup/{workgroup_name}"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions"],
                resources=[
                    f"{arn}:glue:{region_account}:catalog",
                    f"{arn}:glue:{region_account}:database/{glue_database_name}",
                    f"{arn}:glue:{region_account}:table/{glue_database_name}/{events_table_name}",
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[lake_bucket.arn_for_objects(f"{events_prefix}*")])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[lake_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{events_prefix}*", events_prefix]}},
            )
        )
        # Audiences (docs/reports.md): the job writes each audience's CSV under audiences/ and signs a GET link of
        # it (a presigned URL carries the signer's rights, so the role must be allowed to read what it links).
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:GetObject"],
                resources=[lake_bucket.arn_for_objects(f"{AUDIENCES_PREFIX}*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[results_bucket.arn_for_objects(f"{results_prefix}*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[results_bucket.bucket_arn]
            )
        )
        encryption_key.grant(role, "kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt")
        self.send_log_table.grant(role, "dynamodb:GetItem", "dynamodb:PutItem")
        if self.sender_identity is not None:
            identity_arn = f"{arn}:ses:{region_account}:identity/{self.sender_identity.email_identity_name}"
            config_set_arn = (
                f"{arn}:ses:{region_account}:configuration-set/{self.configuration_set.configuration_set_name}"
            )
            # In the SES sandbox, SES also authorizes the call against each recipient's verified identity (the
            # address, or its domain): without these, a sandboxed account's first report is denied. They name
            # identities of this account only, and the job sends only as the sender (--sender).
            recipient_arns = [
                f"{arn}:ses:{region_account}:identity/{name}" for name in recipient_identity_names(self.recipients)
            ]
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["ses:SendEmail", "ses:SendRawEmail"],
                    resources=[identity_arn, *recipient_arns, config_set_arn],
                )
            )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                resources=[f"{arn}:logs:{region_account}:log-group:/aws-glue/*"],
            )
        )
        suppress(
            role,
            rule="AwsSolutions-IAM5",
            reason="Wildcards are object-key or log-stream suffixes under fixed prefixes: the lake's events/ "
            "(partition files are named by Firehose), its audiences/ (one file per feature, audience and period), "
            "the Athena results/ prefix (one object per query id), "
            "the CDK asset objects of this job, Glue's /aws-glue/ log groups (named per security configuration "
            "and run); KMS actions of the grant are on the one stack key.",
            applies_to=[
                RegexAppliesTo(regex=r"/^Resource::<.+\.Arn>\/events\/\*$/"),
                RegexAppliesTo(regex=r"/^Resource::<.+\.Arn>\/audiences\/\*$/"),
                RegexAppliesTo(regex=r"/^Resource::<.+\.Arn>\/results\/\*$/"),
                RegexAppliesTo(regex=r"/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):logs:.*\/aws-glue\/\*$/"),
                RegexAppliesTo(regex=r"/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):s3:::.+\/\*$/"),
                RegexAppliesTo(regex=r"/^Action::s3:(GetBucket|GetObject|List)\*$/"),
                RegexAppliesTo(regex=r"/^Action::kms:.*\*$/"),
            ],
            apply_to_children=True,
        )

    def add_monitoring(self, monitoring: Monitoring) -> None:
        """A dashboard section and an alarm counting failed runs (the rule also mails the event itself)."""
        failures = cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="TriggeredRules",
            dimensions_map={"RuleName": self.failure_rule.rule_name},
            statistic="Sum",
            period=Duration.hours(1),
            label="failed report runs",
        )
        alarm = monitoring.add_alarm(
            "ReportJobFailed",
            metric=failures,
            threshold=1,
            description="The report job failed (no e-mail was sent for that period): see the job run's error in "
            "the Glue console, fix, then start the job with --date for the missed period. docs/reports.md.",
        )
        monitoring.add_section("Reports", alarms=[alarm], widgets=[monitoring.graph("Failed runs", failures)])
