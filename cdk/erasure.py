"""GDPR erasure, deployed (docs/design.md section 4; the why is in docs/decisions.md, "## Lake").

An SQS FIFO queue of erasure requests (`featurepulse erase --queue-url ...`, or any client allowed to send)
feeds the erasure Lambda (`lambdas/erasure/handler.py`), which runs `featurepulse.lake.erasure` on the lake
bucket: one pass over the lake per batch of up to 10 requests, only the affected files rewritten, an audit entry
under `audit/erasure/`. One message group serialises the runs (two erasures never rewrite the same file at
once). Failed requests are retried, then kept in a dead-letter queue for 14 days (an alarm fires).

pyarrow (Parquet) comes in a Lambda layer bundled on this machine like the function's code (pip, manylinux
wheels for arm64), without the parts we never load (Flight, tests, headers).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from cdk_nag import RegexAppliesTo
from constructs import Construct

from cdk.lambda_bundling import BundlingError, pip_install_command
from cdk.lambda_logging import lambda_logging
from cdk.monitoring import Monitoring
from cdk.nag import suppress
from featurepulse.constants import ENV_LAKE_BUCKET, QUARANTINE_PREFIX
from featurepulse.lake.erasure import AUDIENCES_PREFIX
from featurepulse.lake.layout import AUDIT_ERASURE_PREFIX, ERRORS_PREFIX, EVENTS_PREFIX

ERASURE_HANDLER = "lambdas.erasure.handler.lambda_handler"
ERASURE_TIMEOUT = Duration.minutes(15)  # Lambda's maximum: docs/performance.md says how big a lake that covers
PYARROW_REQUIREMENT = "pyarrow==25.0.1"  # the version pinned in pyproject.toml's `local` extra
# Parts of the pyarrow wheel the erasure never imports (keeps the layer far below Lambda's 250 MB limit).
PYARROW_TRIM = (
    "pyarrow/tests",
    "pyarrow/include",
    "pyarrow/src",
    "pyarrow/libarrow_flight*",
    "pyarrow/libarrow_python_flight*",
    "pyarrow/_flight*",
    "pyarrow/flight.py",
)


def _trim(site: Path) -> None:
    for pattern in PYARROW_TRIM:
        for path in site.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


@jsii.implements(ILocalBundling)
class PyarrowLayerBundling:
    """Builds the layer (`python/pyarrow...`) with pip on this machine; `skip` leaves it empty (fast test synth)."""

    def __init__(self, *, skip: bool) -> None:
        self._skip = skip

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: object) -> bool:
        site = Path(output_dir) / "python"
        site.mkdir(parents=True, exist_ok=True)
        if self._skip:
            (site / "README.txt").write_text("layer built with skipLambdaDependencies: no pyarrow inside\n")
            return True
        result = subprocess.run(
            pip_install_command(site, [PYARROW_REQUIREMENT]), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BundlingError(f"pip install for the pyarrow layer failed:\n{result.stderr.strip()}")
        _trim(site)
        return True


class Erasure(Construct):
    """Attributes: `queue` (FIFO, erasure requests), `dead_letter_queue`, `function`, `layer`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        bucket: s3.IBucket,
        encryption_key: kms.IKey,
        memory_mb: int,
        log_retention: logs.RetentionDays,
        skip_layer_dependencies: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            fifo=True,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Requests",
            fifo=True,
            # The same request sent twice within 5 minutes is taken once (and erasure is idempotent anyway).
            content_based_deduplication=True,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            # AWS's advice for Lambda consumers: at least 6 x the function timeout.
            visibility_timeout=Duration.minutes(6 * 15),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=3, queue=self.dead_letter_queue),
        )
        self.layer = lambda_.LayerVersion(
            self,
            "PyarrowLayer",
            description=f"{PYARROW_REQUIREMENT} (arm64, Python 3.12) for the erasure Lambda",
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            code=lambda_.Code.from_asset(
                str(Path(__file__).parent),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=f"{PYARROW_REQUIREMENT}-arm64-py312-{'empty' if skip_layer_dependencies else 'full'}",
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
                    local=PyarrowLayerBundling(skip=skip_layer_dependencies),
                ),
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        log_group = logs.LogGroup(
            self, "Logs", encryption_key=encryption_key, retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="featurepulse erasure Lambda: rewrite events/, quarantine/, errors/; write audit/erasure/",
        )
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Function",
            description="featurepulse: GDPR erasure of users from the lake and the quarantine (SQS FIFO requests)",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=ERASURE_HANDLER,
            code=code,
            layers=[self.layer],
            memory_size=memory_mb,
            timeout=ERASURE_TIMEOUT,
            tracing=lambda_.Tracing.ACTIVE,
            environment={ENV_LAKE_BUCKET: bucket.bucket_name},
            role=role,
            log_group=log_group,
            # JSON log format; Lambda's START/END/REPORT lines left out (cdk/lambda_logging.py).
            **lambda_logging(),
        )
        self.function.add_event_source(
            event_sources.SqsEventSource(self.queue, batch_size=10, report_batch_item_failures=True)
        )
        for prefix in (EVENTS_PREFIX, QUARANTINE_PREFIX, ERRORS_PREFIX, AUDIENCES_PREFIX):
            bucket.grant_read_write(role, f"{prefix}*")
        bucket.grant_put(role, f"{AUDIT_ERASURE_PREFIX}*")
        # Purging the old versions of a rewritten object (the lake bucket is versioned).
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:ListBucketVersions"], resources=[bucket.bucket_arn])
        )
        self._suppress(role)

    def add_monitoring(self, monitoring: Monitoring) -> None:
        """Alarms and a dashboard section: requests that could not be erased, and failing runs."""
        dead_letters = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            statistic="Maximum", period=Duration.minutes(5), label="requests in the dead-letter queue"
        )
        errors = self.function.metric_errors(statistic="Sum", period=Duration.minutes(5), label="failed runs")
        backlog = self.queue.metric_approximate_age_of_oldest_message(
            statistic="Maximum", period=Duration.minutes(5), label="oldest waiting request (s)"
        )
        alarms = [
            monitoring.add_alarm(
                "ErasureDeadLetters",
                metric=dead_letters,
                threshold=1,
                description="Erasure requests failed 3 times and wait in the dead-letter queue: read the erasure "
                "Lambda's logs, fix, then move them back to the request queue (GDPR deadlines run).",
            ),
            monitoring.add_alarm(
                "ErasureFailures",
                metric=errors,
                threshold=1,
                description="An erasure run failed (timeout on a large lake? S3 throttling?); SQS retries it and "
                "erasure is idempotent. See docs/lake.md, 'Erasure'.",
            ),
        ]
        monitoring.add_section(
            "GDPR erasure",
            alarms=alarms,
            widgets=[
                monitoring.graph("Failures", errors, dead_letters),
                monitoring.graph("Backlog", backlog),
                monitoring.graph(
                    "Run time",
                    self.function.metric_duration(statistic="Maximum", period=Duration.minutes(5), label="max"),
                ),
            ],
        )

    def _suppress(self, role: iam.Role) -> None:
        suppress(
            role,
            rule="AwsSolutions-IAM5",
            reason="The erasure reads and rewrites objects it discovers under events/, quarantine/, errors/ and "
            "audiences/ and writes audit entries under audit/erasure/: prefix wildcards are the narrowest ARNs. "
            "The s3/kms action families come from the L2 grants; X-Ray's PutTraceSegments/PutTelemetryRecords "
            "need Resource '*'.",
            applies_to=[
                RegexAppliesTo(
                    regex=r"/^Resource::<DataBucket[A-Za-z0-9]+\.Arn>\/(events|quarantine|errors|audiences)\/\*$/"
                ),
                RegexAppliesTo(regex=r"/^Resource::<DataBucket[A-Za-z0-9]+\.Arn>\/audit\/erasure\/\*$/"),
                RegexAppliesTo(regex=r"/^Action::kms:(GenerateDataKey|ReEncrypt)\*$/"),
                RegexAppliesTo(regex=r"/^Action::s3:(Abort|DeleteObject|GetBucket|GetObject|List|PutObject)\*$/"),
                "Resource::*",
            ],
            apply_to_children=True,
        )
        suppress(
            self.function,
            rule="AwsSolutions-L1",
            reason="Pinned to python3.12 on purpose: the shared Lambda bundle and the pyarrow layer are built "
            "as cp312 arm64 wheels; runtime and wheel tag move together in one change.",
        )
        suppress(
            self.dead_letter_queue,
            rule="AwsSolutions-SQS3",
            reason="This queue is the dead-letter queue of the erasure requests; it needs none of its own.",
        )
