"""Moto's Athena runs no SQL: it answers with results queued through its API (`query_results_queue`, the
same queue as `POST /moto-api/static/athena/query-results`). Here each query the runtime starts is answered
with the rows DuckDB computes for that very SQL (transpiled from Athena's dialect) on a local lake, queued
just before moto looks for them. The runtime under test still does everything itself: it renders the SQL,
starts the query, polls, and reads the CSV moto writes to the workgroup's output location.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from moto.athena import models as athena_models

from featurepulse.local.duckdb_runner import DuckDbQueryRunner, to_duckdb

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
    """The lake `lake_dir` as the Glue database `database` (tables `events_table`, `identities_table`)."""

    def __init__(self, lake_dir: Path, *, database: str, events_table: str, identities_table: str) -> None:
        self.runner = DuckDbQueryRunner(lake_dir)
        connection = self.runner.connection
        connection.execute(f'CREATE SCHEMA "{database}"')
        connection.execute(f'CREATE VIEW "{database}"."{events_table}" AS {self.runner.events_source()}')
        connection.execute(f'CREATE VIEW "{database}"."{identities_table}" AS {self.runner.identities_source()}')
        self.queries: list[str] = []

    def results(self, athena_sql: str) -> athena_models.QueryResults:
        self.queries.append(athena_sql)
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
