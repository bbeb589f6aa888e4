"""A Glue table over JSON Lines, gzip-compressed, in the lake bucket: the shape of the identity tables
(cdk/identity.py) and the marketer-supplied tables (cdk/traits.py)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct


def json_lines_table(
    scope: Construct,
    construct_id: str,
    *,
    database: glue.IDatabase,
    table_name: str,
    description: str,
    columns: Sequence[glue.Column],
    bucket: s3.IBucket,
    s3_prefix: str,
) -> glue.S3Table:
    """The table, read with the OpenX JSON SerDe; destroyed with the stack (the data stays in the bucket)."""
    table = glue.S3Table(
        scope,
        construct_id,
        database=database,
        table_name=table_name,
        description=description,
        columns=list(columns),
        data_format=glue.DataFormat(
            input_format=glue.InputFormat.TEXT,
            output_format=glue.OutputFormat.HIVE_IGNORE_KEY_TEXT,
            serialization_library=glue.SerializationLibrary.OPENX_JSON,
            classification_string=glue.ClassificationString.JSON,
        ),
        storage=glue.S3TableStorage.from_bucket(bucket),
        s3_prefix=s3_prefix,
        compressed=True,
    )
    table.apply_removal_policy(RemovalPolicy.DESTROY)
    return table
