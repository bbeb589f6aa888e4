"""The trait and spend tables: columns (one definition for Glue, the stored records and DuckDB) and keys.

Layout in the lake bucket (and in the local lake directory):
- `traits/imports/`  table `trait_imports`: one row per (key, trait) of each CRM import, long form;
- `campaign_spend/`  table `campaign_spend`: one row per campaign of each spend import.
One JSON Lines gzip object per import, named `<import name>.<stamp>.json.gz` (an import name has no dot); a
re-import writes its new object, then deletes the old ones of the same name.
"""

from __future__ import annotations

import glob
import os

TRAIT_IMPORTS_TABLE = "trait_imports"
CAMPAIGN_SPEND_TABLE = "campaign_spend"
TRAIT_IMPORTS_PREFIX = "traits/imports/"
CAMPAIGN_SPEND_PREFIX = "campaign_spend/"
OBJECT_SUFFIX = ".json.gz"

# (column, Glue type). Times are ISO-8601 UTC text, as in the identity tables.
TABLE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    TRAIT_IMPORTS_TABLE: (
        ("key_kind", "string"),  # 'user' | 'account'
        ("key", "string"),
        ("trait", "string"),
        ("value", "string"),
        ("import_name", "string"),
        ("imported_at", "string"),
    ),
    CAMPAIGN_SPEND_TABLE: (
        ("campaign_name", "string"),
        ("spend_usd", "double"),
        ("currency", "string"),  # 'USD'
        ("import_name", "string"),
        ("imported_at", "string"),
    ),
}
TABLE_PREFIXES: dict[str, str] = {
    TRAIT_IMPORTS_TABLE: TRAIT_IMPORTS_PREFIX,
    CAMPAIGN_SPEND_TABLE: CAMPAIGN_SPEND_PREFIX,
}
_DUCKDB_TYPES = {"string": "VARCHAR", "double": "DOUBLE"}


def column_names(table: str) -> tuple[str, ...]:
    return tuple(name for name, _ in TABLE_COLUMNS[table])


def glue_columns(table: str) -> list[dict[str, str]]:
    """`Columns` of the Glue table (StorageDescriptor)."""
    return [{"Name": name, "Type": kind} for name, kind in TABLE_COLUMNS[table]]


def duckdb_table_source(lake_dir: str, table: str) -> str:
    """The SELECT behind the local twin of `trait_imports` or `campaign_spend` in DuckDB: the table's JSON Lines
    gzip objects under `<lake_dir>/<prefix>`, with the Glue types, or an empty table of the same shape."""
    columns = TABLE_COLUMNS[table]
    pattern = os.path.join(lake_dir, TABLE_PREFIXES[table], f"*{OBJECT_SUFFIX}")
    if not glob.glob(pattern):
        nulls = ", ".join(f"CAST(NULL AS {_DUCKDB_TYPES[kind]}) AS {name}" for name, kind in columns)
        return f"SELECT {nulls} WHERE false"
    spec = ", ".join(f"{name}: '{_DUCKDB_TYPES[kind]}'" for name, kind in columns)
    quoted = pattern.replace("'", "''")
    return (
        f"SELECT {', '.join(name for name, _ in columns)} FROM read_json('{quoted}', format = 'newline_delimited', "
        f"compression = 'gzip', columns = {{{spec}}})"
    )
