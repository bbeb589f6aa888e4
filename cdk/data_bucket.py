"""The lake bucket (docs/design.md section 4): events/ (Parquet, written by Firehose), quarantine/ (invalid events).

KMS-encrypted with the stack's key (S3 Bucket Keys cut the KMS calls), TLS only, no public access, versioned
(an overwrite or a delete can be undone), server access logs in a second bucket. Lifecycle: quarantine and
event objects move to Infrequent Access when they are rarely read; old versions expire so that a GDPR erasure
(which deletes current objects) is complete once `noncurrentVersionExpirationDays` have passed.
The lake construct adds its own rules with `bucket.add_lifecycle_rule(...)`.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.nag import suppress
from featurepulse.constants import LAKE_EVENTS_PREFIX, QUARANTINE_PREFIX


def encrypted_bucket(
    scope: Construct,
    construct_id: str,
    *,
    encryption_key: kms.IKey,
    access_logs_bucket: s3.IBucket,
    access_logs_prefix: str,
    lifecycle_rules: list[s3.LifecycleRule],
    versioned: bool = False,
) -> s3.Bucket:
    """A data bucket of the stack: KMS with Bucket Keys, TLS only, private, access-logged, retained."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=encryption_key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=versioned,
        server_access_logs_bucket=access_logs_bucket,
        server_access_logs_prefix=access_logs_prefix,
        removal_policy=RemovalPolicy.RETAIN,
        lifecycle_rules=lifecycle_rules,
    )


class DataBucket(Construct):
    """`bucket`: the lake; `access_logs_bucket`: its server access logs (SSE-S3: log delivery cannot use KMS)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        quarantine_infrequent_access_days: int,
        lake_infrequent_access_days: int,
        noncurrent_version_expiration_days: int,
        access_log_expiration_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(access_log_expiration_days))
            ],
        )
        suppress(
            self.access_logs_bucket,
            rule="AwsSolutions-S1",
            reason="This bucket receives the lake bucket's server access logs; logging it to itself would log "
            "every log delivery (an endless loop of objects).",
        )
        self.bucket = encrypted_bucket(
            self,
            "Bucket",
            encryption_key=encryption_key,
            access_logs_bucket=self.access_logs_bucket,
            access_logs_prefix="lake/",
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="quarantine-to-infrequent-access",
                    prefix=QUARANTINE_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(quarantine_infrequent_access_days),
                        )
                    ],
                ),
                s3.LifecycleRule(
                    id="events-to-infrequent-access",
                    prefix=LAKE_EVENTS_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(lake_infrequent_access_days),
                        )
                    ],
                ),
                s3.LifecycleRule(
                    id="expire-old-versions-and-uploads",
                    noncurrent_version_expiration=Duration.days(noncurrent_version_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                    expired_object_delete_marker=True,
                ),
            ],
        )
        self.quarantine_prefix = QUARANTINE_PREFIX
