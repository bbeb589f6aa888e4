"""Live panels never lose a column: the Flink sink writes no NULL attribute, and the connector's schema is the
item columns (the Glue table of cdk/quicksight.py), never one sampled from a few items."""

from __future__ import annotations

import re

from cdk.quicksight import GLUE_TYPES, glue_columns
from featurepulse.realtime import items, sql


def _options(ddl: str) -> dict[str, str]:
    body = ddl[ddl.index("WITH (") :]
    return dict(re.findall(r"'((?:[^']|'')*)' = '((?:[^']|'')*)'", body))


def test_the_dynamodb_sink_leaves_null_columns_out_of_the_item():
    # Given the AWS sink table of the Flink job
    options = _options(sql.dynamodb_sink_ddl(table_name="aggregates", region="eu-west-1"))
    # Then the DynamoDB connector (flink-connector-aws 5.1.0) skips NULLs instead of writing NULL attributes
    assert options["connector"] == "dynamodb"
    assert options["sink.ignore-nulls"] == "true"


def test_the_glue_schema_is_the_item_columns_in_order_with_glue_types():
    # One definition: the columns of every item are the Glue table's, lower case (Glue and Athena fold case)
    assert [name for name, _ in glue_columns()] == list(items.ITEM_COLUMN_NAMES)
    assert glue_columns() == [(name, GLUE_TYPES[kind]) for name, kind in items.ITEM_COLUMNS]
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in items.ITEM_COLUMN_NAMES)
    assert set(GLUE_TYPES) == {kind for _, kind in items.ITEM_COLUMNS}
