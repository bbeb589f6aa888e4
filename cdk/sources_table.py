"""The sources table (docs/design.md section 1): one item per write key, keyed by the key's hash.

The partition key (`SOURCES_TABLE_PARTITION_KEY`, the sha256 of the write key) is shared with
`featurepulse/dal/sources.py`, which reads and writes the items (the ingest Lambda
with GetItem, the `featurepulse sources` CLI with the operator's credentials). On-demand capacity, point-in-
time recovery, the stack's KMS key; retained on stack deletion (it holds every source's credentials).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from featurepulse.constants import SOURCES_TABLE_PARTITION_KEY


class SourcesTable(Construct):
    """`table`: the write keys of the sources (client apps)."""

    def __init__(self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=SOURCES_TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=encryption_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
