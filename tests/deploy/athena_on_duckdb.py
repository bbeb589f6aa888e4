"""Moto's Athena runs no SQL: it answers with results queued through its API (`query_results_queue`, the
same queue as `POST /moto-api/static/athena/query-results`). Here each query the runtime starts is answered
with the rows DuckDB computes for that very SQL (transpiled from Athena's dialect) on a local lake, queued
just before moto looks for them. The runtime under test still does everything itself: it renders the SQL,
starts the query, polls, and reads the CSV moto writes to the workgroup's output location. The identity
table is read from the objects the runtime itself wrote to the (moto) lake bucket, as Athena would.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from moto.athena import models as athena_models
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from featurepulse.identity.schema import IDENTITIES_TABLE, IDENTITY_PREFIX, duckdb_table_source
from featurepulse.local.duckdb_runner import DuckDbQueryRunner, to_duckdb
from featurepulse.traits.schema import CAMPAIGN_SPEND_TABLE, TRAIT_IMPORTS_TABLE
from featurepulse.traits.schema import duckdb_table_source as traits_table_source

_ATHENA_TYPES = {
    "BIGINT": "bigint",
    "HUGEINT": "bigint",
    "UBIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "tinyint",
    "DOUBLE": "double",
    "FLOAT": "real",
    "VARCHAR": "varchar",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
}


def _athena_type(duckdb_type: str) -> dict[str, Any]:
    name = duckdb_type.upper()
    if name.startswith("DECIMAL"):
        precision, _, scale = name.removeprefix("DECIMAL(").removesuffix(")").partition(",")
        return {"Type": "decimal", "Precision": int(precision), "Scale": int(scale or 0)}
    if name.endswith("[]"):
        return {"Type": "array", "Precision": 0, "Scale": 0}
    return {"Type": _ATHENA_TYPES[name], "Precision": 0, "Scale": 0}


def _cell(value: Any) -> dict[str, str]:
    """One value as Athena's GetQueryResults writes it (no VarCharValue: NULL)."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    if isinstance(value, datetime):
        return {"VarCharValue": value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}
    if isinstance(value, date):
        return {"VarCharValue": value.isoformat()}
    if isinstance(value, float | Decimal | int):
        return {"VarCharValue": str(value)}
    return {"VarCharValue": str(value)}


class AthenaOnDuckDb:
    """The lake `lake_dir` as the Glue database `database` (tables `events_table`, `identities_table`); the
    identity table's objects come from the moto bucket `lake_bucket` when given."""

    def __init__(
        self,
        lake_dir: Path,
        *,
        database: str,
        events_table: str,
        identities_table: str,
        lake_bucket: str | None = None,
    ) -> None:
        self.runner = DuckDbQueryRunner(lake_dir)
        self.lake_dir = lake_dir
        self.lake_bucket = lake_bucket
        self.identities_view = f'"{database}"."{identities_table}"'
        connection = self.runner.connection
        connection.execute(f'CREATE SCHEMA "{database}"')
        connection.execute(f'CREATE VIEW "{database}"."{events_table}" AS {self.runner.events_source()}')
        # The CRM imports and the campaign spend (docs/segments.md), read by the traits view and the ranking.
        for table in (TRAIT_IMPORTS_TABLE, CAMPAIGN_SPEND_TABLE):
            connection.execute(f'CREATE VIEW "{database}"."{table}" AS {traits_table_source(str(lake_dir), table)}')
        self.queries: list[str] = []

    def _identity_table_from_the_bucket(self) -> None:
        """Mirror the bucket's identity/ objects into the local lake, then point the identities view at them."""
        if self.lake_bucket:
            bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(self.lake_bucket)
            for name, key in list(bucket.keys.items()):
                if name.startswith(IDENTITY_PREFIX) and hasattr(key, "value"):
                    target = self.lake_dir / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(key.value)
        source = duckdb_table_source(str(self.lake_dir), IDENTITIES_TABLE)
        self.runner.connection.execute(f"CREATE OR REPLACE VIEW {self.identities_view} AS {source}")

    def results(self, athena_sql: str) -> athena_models.QueryResults:
        self.queries.append(athena_sql)
        self._identity_table_from_the_bucket()
        cursor = self.runner.connection.execute(to_duckdb(athena_sql))
        description = cursor.description or []
        columns = [
            {"Name": d[0], "Label": d[0], "Nullable": "UNKNOWN", "CaseSensitive": True, **_athena_type(str(d[1]))}
            for d in description
        ]
        header = {"Data": [{"VarCharValue": d[0]} for d in description]}  # Athena's first row: the labels
        rows = [{"Data": [_cell(v) for v in record]} for record in cursor.fetchall()]
        return athena_models.QueryResults(rows=[header, *rows], column_info=columns)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Queue each started query's results for it, then let moto bind and store them as it does."""
        original: Callable[[Any, str], None] = athena_models.AthenaBackend._store_predefined_query_results
        engine = self

        def store(backend: Any, exec_id: str) -> None:
            if exec_id not in backend.query_results:
                backend.query_results_queue.insert(0, engine.results(backend.executions[exec_id].query))
            original(backend, exec_id)

        monkeypatch.setattr(athena_models.AthenaBackend, "_store_predefined_query_results", store)
