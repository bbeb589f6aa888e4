"""The event stream (docs/design.md section 2): Kinesis Data Stream of packed enriched events.

On-demand by default (no capacity planning, pay per GB); provisioned with a fixed shard count when the
`streamMode=provisioned` and `shardCount` context values say so (cheaper at steady high volume).
Encrypted with the stack's customer managed key.
"""

from __future__ import annotations

from typing import Literal

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.nag import suppress

StreamMode = Literal["on-demand", "provisioned"]


class EventStream(Construct):
    """`stream`: the Kinesis stream every producer writes to and every consumer (Flink, Firehose) reads."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        stream_mode: StreamMode,
        shard_count: int,
        retention_hours: int,
    ) -> None:
        super().__init__(scope, construct_id)
        provisioned = stream_mode == "provisioned"
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
            # CloudFormation refuses a shard count on an on-demand stream.
            shard_count=shard_count if provisioned else None,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=encryption_key,
            retention_period=Duration.hours(retention_hours),
            # The stream holds at most `retention_hours` of events, all of which are also in the lake.
            removal_policy=RemovalPolicy.DESTROY,
        )
        suppress(
            self.stream,
            rule="AwsSolutions-KDS3",
            reason="A customer managed key on purpose: one key policy governs every copy of the event data "
            "(stream, lake, tables), so disabling it or revoking a grant cuts access everywhere; the KMS "
            "request cost stays small because Kinesis calls KMS about every five minutes per producer and "
            "consumer when it rotates data keys, not per record.",
        )
