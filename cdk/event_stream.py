"""The event stream (docs/design.md section 2): Kinesis Data Stream of packed enriched events.

Provisioned by default, with the shards `cdk.settings.stream_shards_for` computes from the expected traffic
(`streamMode=auto`, `expectedEventsPerSecond`, `expectedEventBytes`): at 100 events/s one shard costs a small
fraction of an on-demand stream, which bills per stream-hour and per GB written and per GB read by each consumer
(docs/deploy.md, "Sizing the stream", has the figures). `shardCount` fixes the count (`streamMode=provisioned`);
`streamMode=on-demand` lets capacity follow traffic. Encrypted with the stack's customer managed key.
"""

from __future__ import annotations

from typing import Literal

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from cdk.nag import suppress

# The capacity mode as deployed (`auto` in the settings deploys a provisioned stream).
StreamMode = Literal["on-demand", "provisioned"]


class EventStream(Construct):
    """`stream`: the Kinesis stream every producer writes to and every consumer (Flink, Firehose) reads;
    `shard_count`: its shards when provisioned, None when on-demand."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        stream_mode: StreamMode,
        shard_count: int | None,
        retention_hours: int,
    ) -> None:
        super().__init__(scope, construct_id)
        provisioned = stream_mode == "provisioned"
        if provisioned and shard_count is None:
            raise ValueError("a provisioned stream needs a shard count")
        self.shard_count = shard_count if provisioned else None
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
            # CloudFormation refuses a shard count on an on-demand stream.
            shard_count=self.shard_count,
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
