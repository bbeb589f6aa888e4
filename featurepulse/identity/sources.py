"""Where new links come from: `athena_queries/identity_links.sql` on the lake's events.

In AWS the query runs on Athena (awswrangler, as the report queries); locally on DuckDB over the local lake
(`featurepulse/local/identity.py`, which no runtime ships). Both bind the same file with the report queries'
binder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Protocol

from featurepulse.domain.identity import IdentityLink
from featurepulse.reporting.queries import TableRef, bind, queries_dir

LINKS_QUERY = "identity_links"
FULL_BUILD_SINCE = date(1970, 1, 1)


class LinkSource(Protocol):
    description: str

    def links_since(self, since: date | None) -> list[IdentityLink]:
        """The links of the events in the partitions dt >= since (None: every partition)."""


def links_query_text() -> str:
    return (queries_dir() / f"{LINKS_QUERY}.sql").read_text(encoding="utf-8")


def render_links_query(since: date | None, table: TableRef, dialect: str = "athena") -> str:
    tree = bind(links_query_text(), {"since_date": since or FULL_BUILD_SINCE}, table)
    return tree.sql(dialect=dialect, comments=False)


def links_from_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[IdentityLink]:
    out = []
    for row in rows:
        record = {column: row[i] for i, column in enumerate(columns)}
        if record.get("linked_at") is None:
            continue  # an event without a time cannot be ordered; ingest never writes one
        out.append(IdentityLink.from_record(record))
    return out


def _read_sql_query(sql: str, **kwargs: Any) -> Any:
    import awswrangler as wr  # imported on use: local mode and the tests do not need it

    return wr.athena.read_sql_query(sql, **kwargs)


class AthenaLinkSource:
    def __init__(
        self,
        *,
        database: str,
        events_table: str,
        workgroup: str,
        boto3_session: Any = None,
        read_sql_query: Callable[..., Any] = _read_sql_query,
    ) -> None:
        self.table = TableRef(table=events_table, database=database)
        self.workgroup = workgroup
        self.description = f"athena {database}.{events_table}"
        self._session = boto3_session
        self._read_sql_query = read_sql_query

    def links_since(self, since: date | None) -> list[IdentityLink]:
        frame = self._read_sql_query(
            render_links_query(since, self.table),
            database=self.table.database,
            workgroup=self.workgroup,
            ctas_approach=False,
            boto3_session=self._session,
        )
        columns = [str(c) for c in frame.columns]
        return links_from_rows(columns, list(frame.itertuples(index=False, name=None)))
