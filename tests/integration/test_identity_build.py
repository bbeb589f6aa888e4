"""The identity table built incrementally from the lake: locally (DuckDB over the local lake) and in a moto S3
bucket with the Athena path (the same SQL, bound for Athena, run by a stand-in engine over the same files)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from featurepulse.cli import main
from featurepulse.domain.identity import IdentityRow
from featurepulse.identity.build import build_identities
from featurepulse.identity.schema import (
    IDENTITIES_TABLE,
    LINKS_PREFIX,
    PERSONS_PREFIX,
    STATE_KEY,
    duckdb_table_source,
)
from featurepulse.identity.sources import AthenaLinkSource
from featurepulse.identity.store import IdentityStore, decode_records
from featurepulse.lake.store import LocalStore, S3Store
from featurepulse.local.duckdb_runner import DuckDbQueryRunner, to_duckdb
from featurepulse.local.identity import DuckDbLinkSource, build_local, local_identity_store
from tests.integration.lake_support import versioned_bucket, write_lake
from tests.lake_samples import alias_event, enriched

DAY1 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY1 + timedelta(days=2)


def day1_events() -> list[dict[str, Any]]:
    """Alice browses anonymously on her phone, signs in (identify + alias), and lends her laptop to Bob after
    she used it herself; Dan is never identified; Carol signs in on day 1."""
    return [
        enriched(user_id=None, anonymous_id="a-phone", timestamp=DAY1),
        enriched(user_id="u-alice", anonymous_id="a-phone", type="identify", timestamp=DAY1 + timedelta(minutes=5)),
        alias_event("u-alice", "a-phone", DAY1 + timedelta(minutes=5, seconds=1), anonymous_id="a-phone"),
        enriched(user_id="u-alice", anonymous_id="a-laptop", timestamp=DAY1 + timedelta(hours=1)),
        enriched(user_id="u-bob", anonymous_id="a-laptop", timestamp=DAY1 + timedelta(hours=2)),
        enriched(user_id=None, anonymous_id="a-dan", timestamp=DAY1 + timedelta(hours=3)),
        enriched(user_id="u-carol", anonymous_id="a-carol", timestamp=DAY1 + timedelta(hours=4)),
    ]


def day3_events() -> list[dict[str, Any]]:
    """Two days later: Dan signs in (a late link: his anonymous day-1 events become his), and Alice's account is
    renamed u-alice2 by a server-side alias."""
    return [
        enriched(user_id="u-dan", anonymous_id="a-dan", timestamp=DAY3),
        alias_event("u-alice2", "u-alice", DAY3 + timedelta(hours=1)),
    ]


def persons(rows: list[IdentityRow]) -> dict[tuple[str, str], str]:
    return {(r.id_kind, r.id): r.person_id for r in rows}


def test_local_build_then_incremental_build_re_attributes_late_links(tmp_path: Path) -> None:
    # Given a local lake with day-1 events
    lake = tmp_path / "lake"
    write_lake(LocalStore(lake), day1_events())
    # When the identity table is built
    first = build_local(lake, now=DAY1 + timedelta(hours=12))
    # Then phone and laptop are Alice's (she used the laptop first), Bob and Carol are their own persons
    table = local_identity_store(lake)
    assert persons(table.read_identities()) == {
        ("anonymous", "a-phone"): "u-alice",
        ("anonymous", "a-laptop"): "u-alice",
        ("anonymous", "a-carol"): "u-carol",
        ("user", "u-alice"): "u-alice",
        ("user", "u-bob"): "u-bob",
        ("user", "u-carol"): "u-carol",
    }
    assert first.full and first.since is None
    assert first.state.last_built_day == date(2026, 11, 20)

    # Given day-3 events with a late link and a rename
    write_lake(LocalStore(lake), day3_events())
    # When the next build runs, incrementally
    second = build_local(lake, now=DAY3 + timedelta(hours=12))
    # Then it read only the partitions from the last built day minus one
    assert not second.full and second.since == date(2026, 11, 19)
    # And Dan's anonymous id is now his, and every Alice id follows the rename
    resolved = persons(table.read_identities())
    assert resolved[("anonymous", "a-dan")] == "u-dan"
    assert {key for key, person in resolved.items() if person == "u-alice2"} == {
        ("anonymous", "a-phone"),
        ("anonymous", "a-laptop"),
        ("user", "u-alice"),
        ("user", "u-alice2"),
    }
    # And the incremental result equals a full build from scratch
    incremental = table.read_identities()
    full = build_local(lake, full=True, now=DAY3 + timedelta(hours=13))
    assert full.full and table.read_identities() == incremental
    # And each table location holds exactly one object, next to the state
    keys = list(LocalStore(lake).list_keys("identity/"))
    assert len([k for k in keys if k.startswith(PERSONS_PREFIX)]) == 1
    assert len([k for k in keys if k.startswith(LINKS_PREFIX)]) == 1
    assert STATE_KEY in keys


def test_rebuilding_without_new_events_changes_nothing(tmp_path: Path) -> None:
    # Given a built local lake
    lake = tmp_path / "lake"
    write_lake(LocalStore(lake), day1_events())
    build_local(lake, now=DAY1 + timedelta(hours=12))
    table = local_identity_store(lake)
    before = (table.read_links(), table.read_identities())
    # When the same partitions are read again (the build's one-day overlap), twice
    build_local(lake, now=DAY1 + timedelta(hours=13))
    build_local(lake, now=DAY1 + timedelta(hours=14))
    # Then links and persons are unchanged
    assert (table.read_links(), table.read_identities()) == before


def test_the_tables_are_json_lines_gzip_with_the_catalogued_columns(tmp_path: Path) -> None:
    # Given a built local lake
    lake = tmp_path / "lake"
    write_lake(LocalStore(lake), day1_events())
    build_local(lake, now=DAY1 + timedelta(hours=12))
    # When DuckDB reads them the way the local twin of the table does
    source = duckdb_table_source(str(lake), IDENTITIES_TABLE)
    cursor = duckdb.connect().execute(f"{source} ORDER BY id_kind, id")
    columns = [d[0] for d in cursor.description or ()]
    rows = cursor.fetchall()
    assert columns == ["id_kind", "id", "person_id", "linked_at", "link"]
    assert ("anonymous", "a-laptop", "u-alice", "2026-11-20T10:00:00.000Z", "event") in rows
    assert len(rows) == 6


def test_empty_lake_builds_empty_tables(tmp_path: Path) -> None:
    # Given a lake without any event
    lake = tmp_path / "lake"
    lake.mkdir()
    # When the table is built
    result = build_local(lake, now=DAY1)
    # Then it is empty, and the state says it was built today
    assert (result.links, result.ids, result.persons) == (0, 0, 0)
    assert local_identity_store(lake).read_identities() == []
    assert result.state.last_built_day == DAY1.date()


def test_cli_builds_and_shows_a_person(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a local lake
    lake = tmp_path / "lake"
    write_lake(LocalStore(lake), day1_events())
    # When `featurepulse identity build` then `show` run
    assert main(["identity", "build", "--lake-dir", str(lake)]) == 0
    assert main(["identity", "show", "--lake-dir", str(lake), "--id", "a-laptop", "--json"]) == 0
    # Then show names the person and all of its ids
    out = capsys.readouterr().out
    answer = json.loads(out[out.index("{") :])
    assert answer["person_id"] == "u-alice"
    assert {(i["id_kind"], i["id"]) for i in answer["ids"]} == {
        ("user", "u-alice"),
        ("anonymous", "a-phone"),
        ("anonymous", "a-laptop"),
    }
    # And an id never linked is its own person
    assert main(["identity", "show", "--lake-dir", str(lake), "--id", "a-dan"]) == 0
    assert "its own person" in capsys.readouterr().out


def test_cli_show_without_a_table_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a lake never built
    (tmp_path / "lake").mkdir()
    # When show runs, Then it exits 2 with one line
    assert main(["identity", "show", "--lake-dir", str(tmp_path / "lake"), "--id", "x"]) == 2
    assert "identity build" in capsys.readouterr().err


# --- AWS: the Athena path and the S3 tables ---------------------------------------------------------------
BUCKET = "lake-bucket"


@pytest.fixture
def s3() -> Iterator[Any]:
    with versioned_bucket(BUCKET) as client:
        yield client


class AthenaOverLocalLake:
    """Stands in for `awswrangler.athena.read_sql_query`: runs the Athena SQL the source rendered (with the
    database-qualified table) on the local lake through DuckDB, and records what it was asked."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = lake_dir
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, sql: str, **kwargs: Any) -> pd.DataFrame:
        self.calls.append((sql, kwargs))
        runner = DuckDbQueryRunner(self.lake_dir)
        try:
            runner.connection.execute("CREATE SCHEMA lake")
            runner.connection.execute(f"CREATE VIEW lake.events_table AS {runner.events_source()}")
            return runner.connection.execute(to_duckdb(sql)).df()
        finally:
            runner.close()


def test_s3_build_through_athena_writes_both_tables_and_removes_old_versions(s3: Any, tmp_path: Path) -> None:
    # Given the events in a lake, and the identity tables in a versioned S3 bucket
    lake = tmp_path / "lake"
    write_lake(LocalStore(lake), day1_events())
    engine = AthenaOverLocalLake(lake)
    source = AthenaLinkSource(database="lake", events_table="events_table", workgroup="wg", read_sql_query=engine)
    table = IdentityStore(S3Store(s3, BUCKET))
    # When two builds run, the second after new events
    build_identities(table, source, now=DAY1 + timedelta(hours=12))
    write_lake(LocalStore(lake), day3_events())
    result = build_identities(table, source, now=DAY3 + timedelta(hours=12))
    # Then Athena was asked for the lake table, in the workgroup, for the new partitions only
    sql, kwargs = engine.calls[-1]
    assert '"lake"."events_table"' in sql and "'2026-11-19'" in sql
    assert kwargs["workgroup"] == "wg" and kwargs["ctas_approach"] is False
    # And the persons equal those of the local build of the same events
    local_lake = tmp_path / "twin"
    write_lake(LocalStore(local_lake), [*day1_events(), *day3_events()])
    build_identities(local_identity_store(local_lake), DuckDbLinkSource(local_lake), full=True, now=DAY3)
    assert table.read_identities() == local_identity_store(local_lake).read_identities()
    # And the bucket holds one object per table, as JSON Lines gzip, and no old version of a replaced one
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="identity/")["Contents"]]
    assert sorted(keys) == sorted([result.state.links_key, result.state.persons_key, STATE_KEY])
    body = s3.get_object(Bucket=BUCKET, Key=result.state.persons_key)["Body"].read()
    assert body[:2] == b"\x1f\x8b"
    assert len(list(decode_records(body))) == result.ids
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=PERSONS_PREFIX).get("Versions", [])
    assert [v["Key"] for v in versions] == [result.state.persons_key]
