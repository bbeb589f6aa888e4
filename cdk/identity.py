"""The identity tables (docs/identity.md): which anonymous and user ids are one person, as data in the lake.

- `identities` (s3://<lake>/identity/persons/): one row per linked id (id_kind, id, person_id, linked_at, link);
  the report's base view `person_events` joins it.
- `identity_links` (s3://<lake>/identity/links/): the raw links the incremental build keeps.
Both are JSON Lines, gzip-compressed, read with the OpenX JSON SerDe; their columns come from
`featurepulse.identity.schema` (the one definition the build writes with). The report job builds them before
its queries (`grant_build`); the erasure job removes a person's rows (`grant_build` too).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import RegexAppliesTo
from constructs import Construct

from cdk.json_lines_table import json_lines_table
from cdk.nag import suppress
from featurepulse.identity.schema import (
    IDENTITIES_TABLE,
    IDENTITY_LINKS_TABLE,
    IDENTITY_PREFIX,
    TABLE_PREFIXES,
    glue_columns,
)

OPENX_JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"

# Job arguments of the report job (glue_jobs/campaign_report.py) naming the tables and their bucket.
# (featurepulse.reporting.queries.IDENTITIES_TABLE_JOB_ARGUMENT; the build reads and writes the bucket directly,
# so `identity_links` needs no argument.)
JOB_ARGUMENT_IDENTITIES_TABLE = "--identities_table"
JOB_ARGUMENT_LAKE_BUCKET = "--lake_bucket"

_DESCRIPTIONS = {
    IDENTITIES_TABLE: "One row per linked id: its person (docs/identity.md). JSON Lines gzip, rewritten whole by "
    "each identity build.",
    IDENTITY_LINKS_TABLE: "The identity links (event carrying both ids, alias) the incremental identity build "
    "keeps (docs/identity.md). JSON Lines gzip.",
}


class IdentityTables(Construct):
    """Attributes: `identities_table`, `identity_links_table` (glue.S3Table), `identities_table_name`,
    `identity_links_table_name`, `bucket`, `prefix`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database: glue.IDatabase,
        bucket: s3.IBucket,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = bucket
        self.encryption_key = encryption_key
        self.database = database
        self.prefix = IDENTITY_PREFIX
        self.identities_table = self._table("IdentitiesTable", IDENTITIES_TABLE)
        self.identity_links_table = self._table("IdentityLinksTable", IDENTITY_LINKS_TABLE)
        self.identities_table_name = IDENTITIES_TABLE
        self.identity_links_table_name = IDENTITY_LINKS_TABLE

    def _table(self, construct_id: str, name: str) -> glue.S3Table:
        return json_lines_table(
            self,
            construct_id,
            database=self.database,
            table_name=name,
            description=_DESCRIPTIONS[name],
            columns=[glue.Column(name=c["Name"], type=glue.Schema.STRING) for c in glue_columns(name)],
            bucket=self.bucket,
            s3_prefix=TABLE_PREFIXES[name],
        )

    def job_arguments(self) -> dict[str, str]:
        """What the report job needs to find and build the tables."""
        return {
            JOB_ARGUMENT_IDENTITIES_TABLE: self.identities_table_name,
            JOB_ARGUMENT_LAKE_BUCKET: self.bucket.bucket_name,
        }

    def grant_build(self, role: iam.IRole) -> None:
        """Read, write and delete exactly the identity/ prefix (objects and their old versions), use the key,
        and read the two tables' catalog entries."""
        stack = Stack.of(self)
        objects = self.bucket.arn_for_objects(f"{IDENTITY_PREFIX}*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                resources=[objects],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{IDENTITY_PREFIX}*"]}},
            )
        )
        self.encryption_key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        database = self.database.database_name
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["glue:GetTable"],
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(service="glue", resource="database", resource_name=database),
                    self.identities_table.table_arn,
                    self.identity_links_table.table_arn,
                ],
            )
        )
        suppress(
            role,
            rule="AwsSolutions-IAM5",
            reason="The identity build rewrites its tables' objects under the lake's identity/ prefix; object keys "
            "carry the build time (identity/persons/identities-<time>.json.gz), so the prefix wildcard is the "
            "narrowest ARN.",
            applies_to=[RegexAppliesTo(regex=r"/^Resource::<.+\.Arn>\/identity\/\*$/")],
            apply_to_children=True,
        )
