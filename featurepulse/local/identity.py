"""The identity table of the local lake (docs/identity.md): the same build as in AWS, with DuckDB for Athena.

`<lake_dir>/identity/links/` and `<lake_dir>/identity/persons/` are the local twin of the lake bucket's
identity/ prefix; the new links come from `athena_queries/identity_links.sql` run on the local lake's Parquet
files. Local mode only (DuckDB): no runtime ships this module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from featurepulse.domain.identity import IdentityLink
from featurepulse.identity.build import BuildResult, build_identities
from featurepulse.identity.sources import links_from_rows, render_links_query
from featurepulse.identity.store import IdentityStore
from featurepulse.lake.store import LocalStore
from featurepulse.local.duckdb_runner import DuckDbQueryRunner, to_duckdb
from featurepulse.reporting.queries import TableRef


class DuckDbLinkSource:
    """The local lake's events (`<lake_dir>/events/dt=.../hr=.../*.parquet`) through DuckDB."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = Path(lake_dir)
        self.description = f"duckdb {self.lake_dir}"

    def links_since(self, since: date | None) -> list[IdentityLink]:
        runner = DuckDbQueryRunner(self.lake_dir)
        try:
            runner.connection.execute(f"CREATE OR REPLACE VIEW events AS {runner.events_source()}")
            cursor = runner.connection.execute(to_duckdb(render_links_query(since, TableRef())))
            columns = [d[0] for d in cursor.description or ()]
            return links_from_rows(columns, cursor.fetchall())
        finally:
            runner.close()


def local_identity_store(lake_dir: Path) -> IdentityStore:
    """The local twin: `<lake_dir>/identity/links/` and `<lake_dir>/identity/persons/`."""
    return IdentityStore(LocalStore(Path(lake_dir)))


def build_local(lake_dir: Path, *, full: bool = False, now: datetime | None = None) -> BuildResult:
    """Build the local lake's identity table from its Parquet files."""
    return build_identities(local_identity_store(lake_dir), DuckDbLinkSource(lake_dir), full=full, now=now)


def local_refresher(lake_dir: Path) -> Callable[[], BuildResult]:
    """What the local report run calls before its queries (`run_report(before_queries=...)`)."""
    return lambda: build_local(lake_dir)
