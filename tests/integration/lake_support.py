"""Helpers of the lake integration tests: a versioned moto lake bucket (as deployed) and writing events into a lake
the way the local Firehose does."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from featurepulse.lake.store import ObjectStore
from featurepulse.lake.writer import LakeWriter


@contextmanager
def versioned_bucket(name: str) -> Iterator[Any]:
    """A moto S3 client with bucket `name`, versioning enabled as the stack deploys the lake bucket."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=name)
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        yield client


def write_lake(store: ObjectStore, events: Iterable[dict[str, Any]]) -> None:
    """Write enriched events into the lake in one flush (one Parquet file per partition)."""
    writer = LakeWriter([store])
    writer.add_rows(events)
    writer.flush()
