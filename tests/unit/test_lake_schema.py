"""One definition of a lake row: the event model, the Glue columns and the Parquet (Arrow) schema agree.
(The synthesized Glue table and Firehose's conversion schema are checked in tests/infrastructure.)"""

from __future__ import annotations

import typing
from datetime import datetime

import pyarrow as pa

from featurepulse.domain.schema import PARTITION_COLUMNS, EnrichedEvent, glue_columns, lake_columns
from featurepulse.lake.parquet import arrow_schema, rows_to_table, table_schema
from tests.lake_samples import enriched

_EXPECTED_ARROW = {"string": pa.string(), "bigint": pa.int64(), "timestamp": pa.timestamp("ms")}


def test_every_model_field_is_a_lake_column_in_the_same_order() -> None:
    # Given the event model / When the lake columns are derived / Then names and order are the model's
    assert [c.name for c in lake_columns()] == list(EnrichedEvent.model_fields)


def test_glue_columns_and_arrow_schema_match_the_lake_columns() -> None:
    # Given the lake columns
    columns = lake_columns()
    # When the Glue columns and the Arrow schema are derived
    glue = glue_columns()
    arrow = arrow_schema()
    # Then they have the same names, order and types, and Arrow keeps the model's nullability
    assert [g["Name"] for g in glue] == [c.name for c in columns] == arrow.names
    assert [g["Type"] for g in glue] == [c.type for c in columns]
    for column, field in zip(columns, arrow, strict=True):
        assert field.type == _EXPECTED_ARROW[column.type]
        assert field.nullable == column.nullable


def test_model_field_types_map_to_the_lake_types() -> None:
    # Given each model field's Python type / Then its lake type follows from it (catches a new unmapped type)
    for name, field in EnrichedEvent.model_fields.items():
        base = [a for a in typing.get_args(field.annotation) if a is not type(None)] or [field.annotation]
        lake_type = next(c.type for c in lake_columns() if c.name == name)
        if base[0] is datetime:
            assert lake_type == "timestamp"
        elif base[0] is int:
            assert lake_type == "bigint"
        else:
            assert lake_type == "string"


def test_the_table_as_read_has_the_partition_columns_last() -> None:
    assert table_schema().names == [*arrow_schema().names, *PARTITION_COLUMNS]


def test_a_wire_event_converts_to_the_lake_schema_without_loss() -> None:
    # Given a sample enriched event in wire form
    event = enriched()
    # When converted to a lake table
    result = rows_to_table([event])
    # Then the schema is the lake schema and every value reads back equal (timestamps as UTC)
    assert result.rejected == []
    assert result.table.schema == arrow_schema()
    row = result.table.to_pylist()[0]
    model = EnrichedEvent.model_validate(event)
    for name in EnrichedEvent.model_fields:
        expected = getattr(model, name)
        if isinstance(expected, datetime):
            expected = expected.replace(tzinfo=None)
        assert row[name] == expected, name


def test_a_record_that_does_not_fit_the_schema_is_rejected_alone() -> None:
    # Given one good event and one with an unparsable timestamp
    good, bad = enriched(), enriched(timestamp="yesterday")
    # When converted
    result = rows_to_table([good, bad])
    # Then the good one is kept and the bad one is rejected with its reason (Firehose's error output)
    assert result.table.num_rows == 1
    assert [r["event_id"] for r, _ in result.rejected] == [bad["event_id"]]
    assert "timestamp" in result.rejected[0][1]


def test_keys_that_are_not_columns_are_ignored_like_firehose_does() -> None:
    result = rows_to_table([{**enriched(), "unexpected": 1}])
    assert result.rejected == [] and result.table.num_rows == 1
