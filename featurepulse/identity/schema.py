"""The identity tables: columns (one definition, used by the Glue catalog and the stored records) and keys.

Layout in the lake bucket (and in the local lake directory):
- `identity/persons/`  table `identities`: one row per linked id (id_kind, id, person_id, linked_at, link);
- `identity/links/`    table `identity_links`: the raw links, kept for the next incremental build;
- `identity/state.json`  the last build (not a table: outside both table locations).
Each table location holds one JSON Lines gzip object; a build writes the new object, then deletes the old one.
"""

from __future__ import annotations

import dataclasses

from featurepulse.domain.identity import IdentityLink, IdentityRow

IDENTITY_PREFIX = "identity/"
PERSONS_PREFIX = "identity/persons/"
LINKS_PREFIX = "identity/links/"
STATE_KEY = "identity/state.json"
OBJECT_SUFFIX = ".json.gz"

IDENTITIES_TABLE = "identities"
IDENTITY_LINKS_TABLE = "identity_links"


def _columns(model: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(model))


# Column order of the tables. Every column is a string: times are ISO-8601 UTC text (docs/identity.md).
IDENTITIES_COLUMNS: tuple[str, ...] = _columns(IdentityRow)
# The link model orders its fields for sorting (time first); the table reads from -> to first.
IDENTITY_LINKS_COLUMNS: tuple[str, ...] = tuple(
    sorted(_columns(IdentityLink), key=("from_kind", "from_id", "to_user_id", "linked_at", "event_id", "link").index)
)

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    IDENTITIES_TABLE: IDENTITIES_COLUMNS,
    IDENTITY_LINKS_TABLE: IDENTITY_LINKS_COLUMNS,
}
TABLE_PREFIXES: dict[str, str] = {IDENTITIES_TABLE: PERSONS_PREFIX, IDENTITY_LINKS_TABLE: LINKS_PREFIX}


def glue_columns(table: str) -> list[dict[str, str]]:
    """`Columns` of a Glue table (StorageDescriptor) for `identities` or `identity_links`."""
    return [{"Name": name, "Type": "string"} for name in TABLE_COLUMNS[table]]


def duckdb_table_source(lake_dir: str, table: str) -> str:
    """The SELECT behind the local twin of `identities` or `identity_links` in DuckDB: the table's JSON Lines gzip
    objects under `<lake_dir>/identity/...`, every column VARCHAR as in Glue (DuckDB would otherwise guess
    TIMESTAMP for linked_at), or an empty table of the same shape when nothing was built yet."""
    import glob
    import os

    columns = TABLE_COLUMNS[table]
    folder = os.path.join(lake_dir, TABLE_PREFIXES[table])
    if not glob.glob(os.path.join(folder, f"*{OBJECT_SUFFIX}")):
        nulls = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in columns)
        return f"SELECT {nulls} WHERE false"
    pattern = os.path.join(folder, f"*{OBJECT_SUFFIX}").replace("'", "''")
    spec = ", ".join(f"{c}: 'VARCHAR'" for c in columns)
    return (
        f"SELECT {', '.join(columns)} FROM read_json('{pattern}', format = 'newline_delimited', "
        f"compression = 'gzip', columns = {{{spec}}})"
    )
