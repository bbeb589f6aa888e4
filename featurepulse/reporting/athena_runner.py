"""Run the report SQL on Athena with awswrangler (the Glue job's runner).

`ctas_approach=False`: the results are a few hundred rows, and a CTAS would need the right to create tables
in the Glue database; the plain query needs only read access. Results land in the workgroup's (encrypted)
output location. The bytes Athena scanned (what it bills) are kept with each result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from featurepulse.reporting.queries import IDENTITIES_TABLE_PLACEHOLDER, ParameterValue, TableRef, render_athena
from featurepulse.reporting.runners import QueryResult, rows_from_records

logger = logging.getLogger(__name__)


def _read_sql_query(sql: str, **kwargs: Any) -> Any:
    import awswrangler as wr  # imported on use: the local runner and the tests do not need it

    return wr.athena.read_sql_query(sql, **kwargs)


class AthenaQueryRunner:
    engine = "athena"

    def __init__(
        self,
        *,
        database: str,
        table: str,
        workgroup: str,
        identities_table: str = IDENTITIES_TABLE_PLACEHOLDER,
        boto3_session: Any = None,
        read_sql_query: Callable[..., Any] = _read_sql_query,
    ) -> None:
        self.table = TableRef(table=table, database=database, identities_table=identities_table)
        self.workgroup = workgroup
        self._session = boto3_session
        self._read_sql_query = read_sql_query

    def run(self, name: str, params: Mapping[str, ParameterValue]) -> QueryResult:
        sql = render_athena(name, params, self.table)
        frame = self._read_sql_query(
            sql,
            database=self.table.database,
            workgroup=self.workgroup,
            ctas_approach=False,
            boto3_session=self._session,
        )
        metadata = getattr(frame, "query_metadata", None) or {}
        scanned = metadata.get("Statistics", {}).get("DataScannedInBytes")
        columns = tuple(str(c) for c in frame.columns)
        rows = rows_from_records(columns, list(frame.itertuples(index=False, name=None)))
        logger.info("query %s: %d rows, %s bytes scanned", name, len(rows), scanned)
        return QueryResult(
            name=name, columns=columns, rows=rows, bytes_scanned=None if scanned is None else int(scanned), sql=sql
        )
