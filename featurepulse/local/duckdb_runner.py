"""Run the report SQL on the local lake with DuckDB (local mode and tests; not part of the Glue job).

A thin adapter, generic on purpose: the `.sql` files are bound like for Athena, then translated with
`sqlglot.transpile(sql, read="athena", write="duckdb")`. Engine differences are absorbed here, never by
editing a query:
- the lake (`<lake_dir>/events/dt=.../hr=.../*.parquet`) is the view `events`, with `dt` and `hr` read as
  strings as in the Glue table (DuckDB would otherwise guess DATE and BIGINT);
- the identity table (`<lake_dir>/identity/persons/*.json.gz`, JSON Lines) is the view `identities`, read
  with its declared columns, or an empty table of the same shape when the lake has none yet; the CRM imports
  and the campaign spend (`<lake_dir>/traits/imports/`, `<lake_dir>/campaign_spend/`) likewise are the views
  `trait_imports` and `campaign_spend`, and `person_traits` is a view of athena_queries/person_traits.sql;
- the session time zone is UTC, as in Athena;
- Trino's `normal_cdf(mean, sd, v)`, which DuckDB lacks, is a scalar function of the same meaning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import duckdb
import sqlglot
from duckdb import sqltypes

from featurepulse.domain.schema import lake_columns
from featurepulse.identity.schema import IDENTITIES_TABLE, duckdb_table_source
from featurepulse.reporting.queries import (
    TRAITS_VIEW,
    ParameterValue,
    TableRef,
    bind,
    load_base_view,
    load_query,
    query_scan_parameters,
)
from featurepulse.reporting.runners import QueryResult, rows_from_records
from featurepulse.traits.schema import CAMPAIGN_SPEND_TABLE, TRAIT_IMPORTS_TABLE
from featurepulse.traits.schema import duckdb_table_source as traits_table_source

_DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "timestamp": "TIMESTAMP"}


def normal_cdf(mean: float, sd: float, value: float) -> float:
    """Trino's normal_cdf: P(X <= value) for X ~ N(mean, sd^2)."""
    return 0.5 * (1.0 + math.erf((value - mean) / (sd * math.sqrt(2.0))))


def to_duckdb(athena_sql: str) -> str:
    """Translate one Athena (Trino) statement to DuckDB."""
    (statement,) = sqlglot.transpile(athena_sql, read="athena", write="duckdb")
    return statement


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DuckDbQueryRunner:
    engine = "duckdb"

    def __init__(self, lake_dir: Path, *, threads: int | None = None) -> None:
        self.lake_dir = Path(lake_dir)
        self.connection = duckdb.connect(":memory:")
        self.connection.execute("SET TimeZone = 'UTC'")
        if threads:
            self.connection.execute(f"SET threads = {int(threads)}")
        self.connection.create_function(
            "normal_cdf", normal_cdf, [sqltypes.DOUBLE] * 3, sqltypes.DOUBLE, side_effects=False
        )
        self._view_ready = False

    def events_source(self) -> str:
        """The SELECT behind the `events` view: the lake's Parquet files, or an empty table of the same shape."""
        files = list((self.lake_dir / "events").glob("dt=*/hr=*/*.parquet"))
        if not files:
            columns = ", ".join(f"CAST(NULL AS {_DUCKDB_TYPES[c.type]}) AS {c.name}" for c in lake_columns())
            return f"SELECT {columns}, CAST(NULL AS VARCHAR) AS dt, CAST(NULL AS VARCHAR) AS hr WHERE false"
        pattern = str(self.lake_dir / "events" / "*" / "*" / "*.parquet")
        return (
            f"SELECT * FROM read_parquet({_sql_string(pattern)}, hive_partitioning = true, "
            "hive_types = {'dt': VARCHAR, 'hr': VARCHAR})"
        )

    def identities_source(self) -> str:
        """The SELECT behind the `identities` view: the identity table's objects, or an empty table."""
        return duckdb_table_source(str(self.lake_dir), IDENTITIES_TABLE)

    def translate(self, name: str, params: Mapping[str, ParameterValue]) -> str:
        bound = bind(load_query(name), query_scan_parameters(name, params), TableRef())
        return to_duckdb(bound.sql(dialect="athena", comments=False))

    def _ensure_views(self) -> None:
        if not self._view_ready:  # on first use, so the files present when the report runs are the ones read
            self.connection.execute(f"CREATE OR REPLACE VIEW events AS {self.events_source()}")
            self.connection.execute(f"CREATE OR REPLACE VIEW identities AS {self.identities_source()}")
            for table in (TRAIT_IMPORTS_TABLE, CAMPAIGN_SPEND_TABLE):  # docs/segments.md
                self.connection.execute(
                    f"CREATE OR REPLACE VIEW {table} AS {traits_table_source(str(self.lake_dir), table)}"
                )
            # The traits view as a view too, for ad-hoc questions (`featurepulse lake query`); report queries
            # inline their own copy, which shadows it.
            traits_view = bind(load_base_view(TRAITS_VIEW), {}, TableRef()).sql(dialect="athena", comments=False)
            self.connection.execute(f"CREATE OR REPLACE VIEW {TRAITS_VIEW} AS {to_duckdb(traits_view)}")
            self._view_ready = True

    def query(self, sql: str, *, athena: bool = False) -> QueryResult:
        """Any SQL over the views `events` and `identities` (DuckDB's dialect, or Athena's with `athena`)."""
        self._ensure_views()
        statement = to_duckdb(sql) if athena else sql
        cursor = self.connection.execute(statement)
        columns = tuple(d[0] for d in cursor.description or ())
        return QueryResult(name="query", columns=columns, rows=rows_from_records(columns, cursor.fetchall()), sql=sql)

    def run(self, name: str, params: Mapping[str, ParameterValue]) -> QueryResult:
        self._ensure_views()
        sql = self.translate(name, params)
        cursor = self.connection.execute(sql)
        columns = tuple(d[0] for d in cursor.description or ())
        return QueryResult(name=name, columns=columns, rows=rows_from_records(columns, cursor.fetchall()), sql=sql)

    def close(self) -> None:
        self.connection.close()
