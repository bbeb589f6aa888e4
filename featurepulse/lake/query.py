"""Query the local lake with DuckDB as Athena queries the `events` table: same columns, same types.

DuckDB would infer `dt` as DATE and `hr` as BIGINT from the Hive paths; the Glue table declares both as
strings (partition projection), so they are pinned to VARCHAR here. An empty lake still yields an (empty)
`events` relation with the full schema, so report SQL runs on a fresh checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featurepulse.domain.schema import PARTITION_COLUMNS, ColumnType, lake_columns
from featurepulse.lake.layout import EVENTS_PREFIX, PARQUET_SUFFIX

DUCKDB_TYPES: dict[ColumnType, str] = {"string": "VARCHAR", "bigint": "BIGINT", "timestamp": "TIMESTAMP"}


def events_select_sql(lake_dir: Path) -> str:
    """A SELECT returning the `events` table (lake columns, then dt and hr) of a local lake directory."""
    columns = [(c.name, DUCKDB_TYPES[c.type]) for c in lake_columns()] + [(p, "VARCHAR") for p in PARTITION_COLUMNS]
    projection = ", ".join(f'CAST("{name}" AS {sql_type}) AS "{name}"' for name, sql_type in columns)
    files = sorted((lake_dir / EVENTS_PREFIX).rglob(f"*{PARQUET_SUFFIX}"))
    if not files:
        nulls = ", ".join(f'CAST(NULL AS {sql_type}) AS "{name}"' for name, sql_type in columns)
        return f"SELECT {nulls} WHERE false"
    glob = (lake_dir / EVENTS_PREFIX).as_posix().replace("'", "''") + f"/**/*{PARQUET_SUFFIX}"
    hive_types = ", ".join(f"'{p}': 'VARCHAR'" for p in PARTITION_COLUMNS)
    return (
        f"SELECT {projection} FROM read_parquet('{glob}', hive_partitioning = true, "
        f"hive_types = {{{hive_types}}}, union_by_name = true)"
    )


def create_events_view(con: Any, lake_dir: Path, name: str = "events") -> None:
    """Create (or replace) the view `name` over the local lake in a DuckDB connection."""
    con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {events_select_sql(lake_dir)}')
