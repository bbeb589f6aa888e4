"""The incremental build of the identity table (docs/identity.md, "How the table is built").

1. Read the state of the last build (`identity/state.json`); without one, or with `full`, read every partition.
2. Read the new links: the events of the partitions dt >= last built day - 1 (a day of overlap catches the
   events that arrived late for yesterday; older late events are picked up by `--full`).
3. Merge them with the stored links: the union keeps one link per (from, to, kind), the earliest, so reading
   a partition twice changes nothing.
4. Resolve the persons from ALL links (`featurepulse.domain.identity`), so a late link re-attributes earlier
   anonymous events: reports read the table as of their run.
5. Rewrite both objects (new first, then delete the old) and record the state.

The report job runs it before its queries (`athena_refresher` in AWS; locally `featurepulse/local/identity.py`,
which also backs `featurepulse identity build`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from featurepulse.domain.identity import IdentityLink, format_link_time, merge_links, resolve_identities
from featurepulse.identity.sources import AthenaLinkSource, LinkSource
from featurepulse.identity.store import BuildState, IdentityStore
from featurepulse.lake.store import ObjectStore, S3Store

logger = logging.getLogger(__name__)

OVERLAP_DAYS = 1


@dataclass(frozen=True)
class BuildResult:
    full: bool
    since: date | None
    new_links: int
    links: int
    ids: int
    persons: int
    state: BuildState

    def summary(self) -> str:
        scope = "every partition" if self.since is None else f"partitions from {self.since.isoformat()}"
        kind = "full" if self.full else "incremental"
        return (
            f"identity {kind} build ({scope}): {self.new_links} links read, {self.links} links stored, "
            f"{self.ids} linked ids in {self.persons} persons"
        )


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)  # noqa: UP017 - Python 3.9 (Glue Python shell)


def build_identities(
    identity: IdentityStore,
    source: LinkSource,
    *,
    full: bool = False,
    now: datetime | None = None,
) -> BuildResult:
    now = now or _utc_now()
    state = None if full else identity.read_state()
    since = None if state is None else state.last_built_day - timedelta(days=OVERLAP_DAYS)
    new_links = source.links_since(since)
    stored: list[IdentityLink] = [] if state is None else identity.read_links()
    links = merge_links(stored, new_links)
    rows = resolve_identities(links)
    links_key, persons_key = identity.write(links, rows, now=now)
    new_state = BuildState(
        last_built_day=_last_built_day(links, now),
        built_at=format_link_time(now),
        links_key=links_key,
        persons_key=persons_key,
        links=len(links),
        ids=len(rows),
        persons=len({row.person_id for row in rows}),
    )
    identity.write_state(new_state)
    result = BuildResult(
        full=state is None,
        since=since,
        new_links=len(new_links),
        links=len(links),
        ids=len(rows),
        persons=new_state.persons,
        state=new_state,
    )
    logger.info(result.summary())
    return result


def _last_built_day(links: list[IdentityLink], now: datetime) -> date:
    """The newest event day that carried a link (not simply today: a lake of replayed history still gets its
    overlap), never after today; today when there is no link yet."""
    today = now.astimezone(timezone.utc).date()  # noqa: UP017
    newest = max((link.linked_at[:10] for link in links), default=None)
    return today if newest is None else min(today, date.fromisoformat(newest))


def identity_refresher(
    store: ObjectStore, source: LinkSource, *, now: Callable[[], datetime] = _utc_now
) -> Callable[[], BuildResult]:
    """What the report job calls before its queries (`run_report(before_queries=...)`)."""
    return lambda: build_identities(IdentityStore(store), source, now=now())


def athena_refresher(
    *,
    session: Any,
    lake_bucket: str,
    database: str,
    events_table: str,
    workgroup: str,
    read_sql_query: Callable[..., Any] | None = None,
) -> Callable[[], BuildResult]:
    """The report job's identity build in AWS: new links through Athena, tables in the lake bucket.
    `read_sql_query` replaces awswrangler's (tests: moto's Athena returns no rows)."""
    store = S3Store(session.client("s3"), lake_bucket)
    source = AthenaLinkSource(
        database=database,
        events_table=events_table,
        workgroup=workgroup,
        boto3_session=session,
        **({"read_sql_query": read_sql_query} if read_sql_query is not None else {}),
    )
    return identity_refresher(store, source)
