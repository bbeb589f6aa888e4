"""The identity tables' columns come from one definition: the stored records and the Glue columns agree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb

from featurepulse.domain.identity import IdentityLink, IdentityRow
from featurepulse.identity.schema import (
    IDENTITIES_COLUMNS,
    IDENTITIES_TABLE,
    IDENTITY_LINKS_COLUMNS,
    IDENTITY_LINKS_TABLE,
    duckdb_table_source,
    glue_columns,
)


def test_stored_records_have_exactly_the_table_columns_in_order() -> None:
    # Given one link and one identity row
    link = IdentityLink("2026-03-01T10:00:00.000Z", "e1", "anonymous", "a1", "u1", "event")
    row = IdentityRow("anonymous", "a1", "u1", "2026-03-01T10:00:00.000Z", "event")
    # Then their records carry the columns of their tables, and the tables every field of the models
    assert tuple(link.to_record()) == IDENTITY_LINKS_COLUMNS
    assert tuple(row.to_record()) == IDENTITIES_COLUMNS
    assert set(IDENTITY_LINKS_COLUMNS) == {f.name for f in dataclasses.fields(IdentityLink)}


def test_glue_columns_are_the_contract_of_the_identities_table() -> None:
    # Then `identities` has the columns docs/identity.md promises, all strings
    assert glue_columns(IDENTITIES_TABLE) == [
        {"Name": name, "Type": "string"} for name in ("id_kind", "id", "person_id", "linked_at", "link")
    ]
    assert [c["Name"] for c in glue_columns(IDENTITY_LINKS_TABLE)] == list(IDENTITY_LINKS_COLUMNS)


def test_local_twin_of_a_table_never_built_is_empty_with_the_same_columns(tmp_path: Path) -> None:
    # Given a lake directory without identity objects
    # When DuckDB reads the local twin
    cursor = duckdb.connect().execute(duckdb_table_source(str(tmp_path), IDENTITIES_TABLE))
    # Then it is empty with the columns of the Glue table
    assert [d[0] for d in cursor.description or ()] == list(IDENTITIES_COLUMNS)
    assert cursor.fetchall() == []
