"""The marketer-supplied tables (docs/segments.md): CRM trait imports and campaign spend, as data in the lake.

- `trait_imports` (s3://<lake>/traits/imports/): one row per (key, trait) of each CSV import (long form); the
  report's view `person_traits` reads it beside the identify and group events;
- `campaign_spend` (s3://<lake>/campaign_spend/): one row per campaign of each spend import.
Both are JSON Lines, gzip-compressed, read with the OpenX JSON SerDe; their columns come from
`featurepulse.traits.schema` (the one definition `featurepulse traits import` and `spend import` write with).
The report job reads them (`grant_read`); the erasure job removes a person's CRM rows (`grant_erase`). Imports
are written by people with the CLI and their own credentials: no role of the stack writes them.
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
from featurepulse.traits.schema import (
    CAMPAIGN_SPEND_PREFIX,
    CAMPAIGN_SPEND_TABLE,
    TABLE_PREFIXES,
    TRAIT_IMPORTS_PREFIX,
    TRAIT_IMPORTS_TABLE,
    glue_columns,
)

_GLUE_TYPES = {"string": glue.Schema.STRING, "double": glue.Schema.DOUBLE}
# The cdk-nag findings of each table's object wildcard (`<bucket ARN>/<prefix>*`).
_PREFIX_WILDCARD_FINDINGS = {
    TRAIT_IMPORTS_PREFIX: r"/^Resource::<.+\.Arn>\/traits\/imports\/\*$/",
    CAMPAIGN_SPEND_PREFIX: r"/^Resource::<.+\.Arn>\/campaign_spend\/\*$/",
}
_DESCRIPTIONS = {
    TRAIT_IMPORTS_TABLE: "CRM traits imported from CSV (docs/segments.md): one row per key (user or account id) and "
    "trait. JSON Lines gzip, one object per import, replaced whole by a re-import.",
    CAMPAIGN_SPEND_TABLE: "Campaign spend in USD imported from CSV (docs/segments.md): one row per campaign and "
    "import. JSON Lines gzip, one object per import, replaced whole by a re-import.",
}


class TraitTables(Construct):
    """Attributes: `trait_imports_table`, `campaign_spend_table` (glue.S3Table), `trait_imports_table_name`,
    `campaign_spend_table_name`, `bucket`."""

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
        self.trait_imports_table = self._table("TraitImportsTable", TRAIT_IMPORTS_TABLE)
        self.campaign_spend_table = self._table("CampaignSpendTable", CAMPAIGN_SPEND_TABLE)
        self.trait_imports_table_name = TRAIT_IMPORTS_TABLE
        self.campaign_spend_table_name = CAMPAIGN_SPEND_TABLE

    def _table(self, construct_id: str, name: str) -> glue.S3Table:
        return json_lines_table(
            self,
            construct_id,
            database=self.database,
            table_name=name,
            description=_DESCRIPTIONS[name],
            columns=[glue.Column(name=c["Name"], type=_GLUE_TYPES[c["Type"]]) for c in glue_columns(name)],
            bucket=self.bucket,
            s3_prefix=TABLE_PREFIXES[name],
        )

    def _catalog_resources(self) -> list[str]:
        stack = Stack.of(self)
        return [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=self.database.database_name),
            self.trait_imports_table.table_arn,
            self.campaign_spend_table.table_arn,
        ]

    def grant_read(self, role: iam.IRole) -> None:
        """What Athena needs, with the caller's rights, to read both tables: their objects, a listing of their
        prefixes, the key to decrypt, and their catalog entries."""
        prefixes = (TRAIT_IMPORTS_PREFIX, CAMPAIGN_SPEND_PREFIX)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{p}*") for p in prefixes]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [*prefixes, *(f"{p}*" for p in prefixes)]}},
            )
        )
        self.encryption_key.grant(role, "kms:Decrypt")
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["glue:GetTable", "glue:GetPartitions"], resources=self._catalog_resources())
        )
        self._suppress_prefix_wildcards(role, prefixes)

    def grant_erase(self, role: iam.IRole) -> None:
        """Rewrite or delete the CRM import objects that hold an erased user's rows, and their old versions."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                resources=[self.bucket.arn_for_objects(f"{TRAIT_IMPORTS_PREFIX}*")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{TRAIT_IMPORTS_PREFIX}*"]}},
            )
        )
        self.encryption_key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        self._suppress_prefix_wildcards(role, (TRAIT_IMPORTS_PREFIX,))

    def _suppress_prefix_wildcards(self, role: iam.IRole, prefixes: tuple[str, ...]) -> None:
        suppress(
            role,
            rule="AwsSolutions-IAM5",
            reason="Objects of the CRM trait and spend tables are named per import "
            "(traits/imports/<name>.<time>.json.gz, campaign_spend/<name>.<time>.json.gz), so the table's prefix "
            "wildcard is the narrowest ARN.",
            applies_to=[RegexAppliesTo(regex=_PREFIX_WILDCARD_FINDINGS[p]) for p in prefixes],
            apply_to_children=True,
        )
