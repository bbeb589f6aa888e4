"""`RealtimeAggregation`: the Managed Service for Apache Flink application and the aggregates table.

- The application (AWS::KinesisAnalyticsV2::Application, runtime FLINK-1_20, PyFlink): the code is an S3 asset
  zip, built here without Docker or network. Packaged by runtime: `flink/app/` is what Managed Flink runs and
  ships whole (`main.py`, the `featurepulse_flink` package under `python/`, the connector jar `make
  flink-connectors` fetches into `lib/`), plus exactly the `featurepulse` modules it imports (found by reading
  its imports, never listed by hand; an import contract in pyproject.toml keeps them to the standard library).
  Synth never downloads anything: without the jar it warns (the application would not start) and still
  synthesizes.
- Checkpointing (exactly-once state, restart from the last checkpoint), snapshots on update/stop, restore from
  the latest snapshot with stable operator uids (featurepulse_flink/job.py) and without dropping state it
  cannot map, system rollback of a failed update, parallelism and autoscaling from context, CloudWatch logging
  to an encrypted log group. docs/realtime.md, "Upgrading the Flink application safely", says which changes
  keep the state.
- A least-privilege service role: read the stream, read/write the table's items, read the one code object,
  write its log stream.
- The aggregates table: pk/sk strings (featurepulse/realtime/items.py holds the key design), on demand, TTL on
  `expires_at`, point-in-time recovery, the stack's KMS key.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import jsii
from aws_cdk import (
    Annotations,
    ArnFormat,
    AssetHashType,
    BundlingOptions,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisanalyticsv2 as kda
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from cdk_nag import RegexAppliesTo
from constructs import Construct

from cdk.monitoring import Monitoring, flink_metric
from cdk.nag import suppress
from featurepulse.realtime import items
from featurepulse.realtime.settings import PROPERTY_GROUP, RealtimeSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
FLINK_DIR = REPO_ROOT / "flink"
APP_SOURCE = Path("flink") / "app"  # the folder that ships whole, relative to the repository root
CONNECTORS = FLINK_DIR / "connectors.json"
APP_DIR = "featurepulse-flink"  # top folder inside the zip
PYTHON_DIR = "python"  # inside APP_DIR: the packages (the `pyFiles` run option puts them on the Python path)
RUNTIME = "FLINK-1_20"
RUN_OPTIONS_GROUP = "kinesis.analytics.flink.run.options"
# Custom metrics (featurepulse_flink/job.py) are published with the dimension `Application` alone at this level;
# TASK, OPERATOR or PARALLELISM would add dimensions and the alarms below would watch a metric nobody publishes.
METRICS_LEVEL = "APPLICATION"
PROJECT_PACKAGE = "featurepulse"
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
# Late events (beyond the allowed lateness) per second, 5-minute average, that page someone: a client fleet
# with broken clocks or a consumer lagging more than the lateness.
LATE_EVENTS_ALARM_PER_SECOND = 1.0


def merged_jar_name(config: Path = CONNECTORS) -> str:
    """The connector jar's file name (versions included), as flink/fetch_connectors.py writes it."""
    name: str = json.loads(config.read_text())["merged_jar"]
    return name


def _imported_modules(path: Path) -> Iterator[str]:
    """Absolute module names a file imports (`from x import y` also yields `x.y`: it may be a module)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def shipped_project_modules(root: Path = REPO_ROOT) -> list[Path]:
    """The `featurepulse` files the application imports, directly or through each other (with their packages'
    `__init__.py`), relative to `root`: what Managed Flink needs of the project besides flink/app/."""
    pending = [p for p in sorted((root / APP_SOURCE).rglob("*.py")) if not _SKIPPED_PARTS & set(p.parts)]
    found: set[Path] = set()
    while pending:
        for module in _imported_modules(pending.pop()):
            if module.split(".")[0] != PROJECT_PACKAGE:
                continue
            parts = module.split(".")
            for depth in range(1, len(parts) + 1):
                path = _module_file(root, ".".join(parts[:depth]))
                if path is not None and path not in found:
                    found.add(path)
                    pending.append(path)
    return sorted(p.relative_to(root) for p in found)


def application_files(root: Path = REPO_ROOT) -> Iterator[tuple[Path, str]]:
    """(source, path in the zip) of every file of the application package: flink/app/ copied whole under
    APP_DIR, the project modules it imports under APP_DIR/python/."""
    app = root / APP_SOURCE
    for path in sorted(app.rglob("*")):
        if path.is_file() and not _SKIPPED_PARTS & set(path.relative_to(app).parts) and path.suffix != ".pyc":
            yield path, f"{APP_DIR}/{path.relative_to(app).as_posix()}"
    for module in shipped_project_modules(root):
        yield root / module, f"{APP_DIR}/{PYTHON_DIR}/{module.as_posix()}"


def application_hash(root: Path = REPO_ROOT) -> str:
    digest = hashlib.sha256()
    for source, target in application_files(root):
        digest.update(target.encode() + b"\0")
        digest.update(source.read_bytes() if source.suffix != ".jar" else hashlib.sha256(source.read_bytes()).digest())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class _LocalApplicationBundling:
    """Copies the application package into CDK's bundling directory (no Docker, no network)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: object) -> bool:
        for source, target in application_files(self._root):
            destination = Path(output_dir) / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        return True


class RealtimeAggregation(Construct):
    """`table` (the aggregates), `application` (CfnApplication), `application_name`, `role`, `log_group`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream: kinesis.IStream,
        encryption_key: kms.IKey,
        settings: RealtimeSettings,
        parallelism: int,
        parallelism_per_kpu: int,
        autoscaling: bool,
        checkpoint_interval_ms: int,
        min_pause_between_checkpoints_ms: int,
        initial_position: str,
        log_level: str,
        log_retention: logs.RetentionDays,
        root: Path = REPO_ROOT,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.table = dynamodb.Table(
            self,
            "AggregatesTable",
            partition_key=dynamodb.Attribute(name=items.PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=items.SK, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=items.TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Retained like every stateful resource (decisions.md 8): the job could rebuild only what the stream
            # still holds (24 h by default), so past days' rows would be lost with the table.
            removal_policy=RemovalPolicy.RETAIN,
        )

        jar_name = merged_jar_name(root / "flink" / "connectors.json")
        jar = root / APP_SOURCE / "lib" / jar_name
        if not jar.is_file():
            Annotations.of(self).add_warning_v2(
                "featurepulse:flink-connectors-missing",
                f"{APP_SOURCE.as_posix()}/lib/{jar_name} is not there: the Flink application would not start. Run "
                "`make flink-connectors` (it fetches the Kinesis and DynamoDB connector jars) before deploying.",
            )
        self.code = s3_assets.Asset(
            self,
            "Code",
            path=str(root / APP_SOURCE),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=application_hash(root),
            bundling=BundlingOptions(
                image=DockerImage.from_registry("public.ecr.aws/docker/library/python:3.11"),  # never pulled
                local=_LocalApplicationBundling(root),
            ),
        )

        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, encryption_key=encryption_key, removal_policy=RemovalPolicy.DESTROY
        )
        self.log_stream = logs.LogStream(
            self, "LogStream", log_group=self.log_group, removal_policy=RemovalPolicy.DESTROY
        )

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("kinesisanalytics.amazonaws.com"),
            description="featurepulse real-time job: read the event stream, write the aggregates",
        )
        stream.grant_read(self.role)
        self.table.grant_read_write_data(self.role)
        # The one code object, nothing else of the CDK assets bucket (which holds every asset of the account).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[self.code.bucket.arn_for_objects(self.code.s3_object_key)],
            )
        )
        self.log_group.grant_write(self.role)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["logs:DescribeLogStreams"], resources=[self.log_group.log_group_arn])
        )
        # The service checks the log group exists before it starts the job; DescribeLogGroups has no resource scope.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:DescribeLogGroups"],
                resources=[f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"],
            )
        )

        properties = {
            "stream.arn": stream.stream_arn,
            "aggregates.table": self.table.table_name,
            "aws.region": stack.region,
            "source.init.position": initial_position,
            **settings.to_properties(),
        }
        self.application = kda.CfnApplication(
            self,
            "Application",
            runtime_environment=RUNTIME,
            service_execution_role=self.role.role_arn,
            application_description="featurepulse: per-minute and per-day feature engagement from the event stream",
            application_mode="STREAMING",
            application_configuration=kda.CfnApplication.ApplicationConfigurationProperty(
                application_code_configuration=kda.CfnApplication.ApplicationCodeConfigurationProperty(
                    code_content_type="ZIPFILE",
                    code_content=kda.CfnApplication.CodeContentProperty(
                        s3_content_location=kda.CfnApplication.S3ContentLocationProperty(
                            bucket_arn=self.code.bucket.bucket_arn, file_key=self.code.s3_object_key
                        )
                    ),
                ),
                environment_properties=kda.CfnApplication.EnvironmentPropertiesProperty(
                    property_groups=[
                        kda.CfnApplication.PropertyGroupProperty(
                            property_group_id=RUN_OPTIONS_GROUP,
                            property_map={
                                "python": f"{APP_DIR}/main.py",
                                "jarfile": f"{APP_DIR}/lib/{jar_name}",
                                "pyFiles": f"{APP_DIR}/{PYTHON_DIR}",
                            },
                        ),
                        kda.CfnApplication.PropertyGroupProperty(
                            property_group_id=PROPERTY_GROUP, property_map=properties
                        ),
                    ]
                ),
                flink_application_configuration=kda.CfnApplication.FlinkApplicationConfigurationProperty(
                    checkpoint_configuration=kda.CfnApplication.CheckpointConfigurationProperty(
                        configuration_type="CUSTOM",
                        checkpointing_enabled=True,
                        checkpoint_interval=checkpoint_interval_ms,
                        min_pause_between_checkpoints=min_pause_between_checkpoints_ms,
                    ),
                    monitoring_configuration=kda.CfnApplication.MonitoringConfigurationProperty(
                        configuration_type="CUSTOM", log_level=log_level, metrics_level=METRICS_LEVEL
                    ),
                    parallelism_configuration=kda.CfnApplication.ParallelismConfigurationProperty(
                        configuration_type="CUSTOM",
                        parallelism=parallelism,
                        parallelism_per_kpu=parallelism_per_kpu,
                        auto_scaling_enabled=autoscaling,
                    ),
                ),
                # A stop or an update takes a snapshot; the next start restores it (state and stream positions).
                application_snapshot_configuration=kda.CfnApplication.ApplicationSnapshotConfigurationProperty(
                    snapshots_enabled=True
                ),
                # An update whose job fails to start (e.g. a snapshot it cannot restore) returns to the running
                # version instead of leaving the application down.
                application_system_rollback_configuration=kda.CfnApplication.ApplicationSystemRollbackConfigurationProperty(
                    rollback_enabled=True
                ),
            ),
            run_configuration=kda.CfnApplication.RunConfigurationProperty(
                application_restore_configuration=kda.CfnApplication.ApplicationRestoreConfigurationProperty(
                    application_restore_type="RESTORE_FROM_LATEST_SNAPSHOT"
                ),
                # Never drop state silently: a snapshot the new job cannot map fails the update (and rolls it back)
                # rather than restarting windows empty and overwriting complete rows with partial ones. A change
                # that must drop state is deployed stopped and started without the snapshot (docs/realtime.md).
                flink_run_configuration=kda.CfnApplication.FlinkRunConfigurationProperty(
                    allow_non_restored_state=False
                ),
            ),
        )
        self.application.node.add_dependency(self.role)
        self.application_name = self.application.ref
        self.logging = kda.CfnApplicationCloudWatchLoggingOption(
            self,
            "Logging",
            application_name=self.application.ref,
            cloud_watch_logging_option=kda.CfnApplicationCloudWatchLoggingOption.CloudWatchLoggingOptionProperty(
                log_stream_arn=stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=f"{self.log_group.log_group_name}:log-stream:{self.log_stream.log_stream_name}",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ),
        )
        suppress(
            self.role,
            rule="AwsSolutions-IAM5",
            reason="Grants generated by grant_read_write_data/grant_write (index ARNs of the table, the log group's "
            "streams, the key's kms action families) and logs:DescribeLogGroups, which the service calls on "
            "log-group:* of this account and region before starting the job (it has no narrower resource).",
            applies_to=[
                RegexAppliesTo(regex=r"/^Resource::<.*AggregatesTable[A-Za-z0-9]+\.Arn>\/index\/\*$/"),
                RegexAppliesTo(regex=r"/^Action::kms:(ReEncrypt|GenerateDataKey)\*$/"),
                RegexAppliesTo(
                    regex=r"/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):logs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|\d+):log-group:\*$/"
                ),
                RegexAppliesTo(regex=r"/^Resource::<.*Logs[A-Za-z0-9]+\.Arn>:\*$/"),
            ],
            apply_to_children=True,
        )

    def add_monitoring(self, monitoring: Monitoring) -> None:
        """Flink availability and checkpoints (Monitoring.add_flink) and the job's own data-quality metrics."""
        monitoring.add_flink(application_name=self.application_name)

        def custom(name: str, label: str) -> cloudwatch.Metric:
            # Counters of the `kinesisanalytics` metric group (featurepulse_flink/job.py), totals since start.
            return flink_metric(self.application_name, name, "Maximum", label)

        # PyFlink registers a Python counter with Flink only when it first changes: a counter still at 0 is never
        # published, so the first burst appears from nothing. RATE alone needs two datapoints and would miss it;
        # FILL(..., 0) supplies the zeros before it (and after a restart, when the counter starts again).

        late_total = custom("lateEvents", "late events (total)")
        unreadable_total = custom("unreadableEvents", "unreadable events (total)")
        late_rate = cloudwatch.MathExpression(
            expression="RATE(FILL(late, 0))",
            using_metrics={"late": late_total},
            label="late events per second",
            period=Duration.minutes(5),
        )
        unreadable_rate = cloudwatch.MathExpression(
            expression="RATE(FILL(bad, 0))",
            using_metrics={"bad": unreadable_total},
            label="unreadable events per second",
            period=Duration.minutes(5),
        )
        alarms = [
            monitoring.add_alarm(
                "RealtimeLateEvents",
                metric=late_rate,
                threshold=LATE_EVENTS_ALARM_PER_SECOND,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                description="Events arrive later than the allowed lateness: they are in the lake but not in the "
                "live panels (clients with wrong clocks, or the job lagging). See docs/realtime.md.",
            ),
            monitoring.add_alarm(
                "RealtimeUnreadableEvents",
                metric=unreadable_rate,
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description="The Flink job met stream lines that are not enriched events (a producer other than "
                "the ingest API writes to the stream?). They are skipped and counted.",
            ),
        ]
        monitoring.add_section(
            "Real-time data quality",
            alarms=alarms,
            widgets=[monitoring.graph("Late and unreadable events", late_total, right=[unreadable_total])],
        )
