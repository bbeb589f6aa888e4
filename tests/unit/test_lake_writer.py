"""The local lake writer: Firehose's layout, buffering and file format, read back by pyarrow and by DuckDB running
Athena SQL translated by sqlglot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sqlglot

from featurepulse.domain.packing import pack_events
from featurepulse.domain.schema import PARTITION_COLUMNS, glue_columns, lake_columns
from featurepulse.lake.layout import ERRORS_PREFIX
from featurepulse.lake.local import lake_event_keys
from featurepulse.lake.parquet import PARQUET_COMPRESSION, arrow_schema
from featurepulse.lake.query import DUCKDB_TYPES, create_events_view
from featurepulse.lake.store import LocalStore
from featurepulse.lake.writer import BufferingHints, LakeWriter
from tests.lake_samples import enriched, user_events

T0 = datetime(2026, 11, 25, 22, 50, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def records_of(events: list[dict[str, object]]) -> list[bytes]:
    packed = pack_events((str(e["user_id"]), str(e["event_id"]), orjson.dumps(e)) for e in events)
    return [r.data for r in packed]


@pytest.fixture
def lake(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "lake")


def test_events_land_in_their_hour_partition_as_one_file_per_flush(lake: LocalStore) -> None:
    # Given events across midnight from two users, packed into stream records as ingest does
    events = user_events("u1", "a1", T0, 6, timedelta(minutes=15)) + user_events(
        "u2", "a2", T0, 3, timedelta(minutes=30)
    )
    writer = LakeWriter([lake])
    # When the records are written and the writer flushes
    for data in records_of(events):
        writer.add_record(data)
    written = writer.flush()
    # Then there is one Parquet file per partition, named and placed like Firehose's output
    assert sorted(f.key.rsplit("/", 1)[0] for f in written) == [
        "events/dt=2026-11-25/hr=22",
        "events/dt=2026-11-25/hr=23",
        "events/dt=2026-11-26/hr=00",
    ]
    assert sum(f.rows for f in written) == len(events)
    for f in written:
        meta = pq.ParquetFile(lake.root / f.key).metadata
        assert meta.row_group(0).column(0).compression == PARQUET_COMPRESSION
        assert pq.read_schema(lake.root / f.key).remove_metadata() == arrow_schema()


def test_buffers_are_cut_by_size_and_by_age_like_firehose(lake: LocalStore) -> None:
    # Given a writer with a tiny size hint and a 60 s interval on a fake clock
    clock = FakeClock()
    event_size = len(orjson.dumps(enriched())) + 1
    writer = LakeWriter([lake], hints=BufferingHints(size_bytes=3 * event_size, interval_s=60), monotonic=clock)
    # When three events arrive, then one more, then the clock passes the interval
    by_size = writer.add_rows([enriched(timestamp=T0) for _ in range(3)])
    one_more = writer.add_rows([enriched(timestamp=T0)])
    clock.now = 61
    by_age = writer.flush_due()
    # Then the size cut writes the first three at once, the age cut writes the straggler
    assert [f.rows for f in by_size] == [3]
    assert one_more == []
    assert [f.rows for f in by_age] == [1]
    assert writer.buffered_rows == 0


def test_duplicates_across_records_are_written_once(lake: LocalStore) -> None:
    # Given the same events sent twice (a client retry) in different stream records
    events = user_events("u1", "a1", T0, 5, timedelta(seconds=1))
    writer = LakeWriter([lake])
    # When both copies arrive
    for data in records_of(events) + records_of(events[1:3]):
        writer.add_record(data)
    writer.flush()
    # Then the lake holds each event once and the duplicates are counted
    ids = ds.dataset(lake.root / "events", format="parquet").to_table(columns=["event_id"]).column(0).to_pylist()
    assert sorted(ids) == sorted(e["event_id"] for e in events)
    assert writer.stats.duplicates == 2


def test_a_restarted_writer_given_the_keys_already_in_the_lake_writes_only_the_events_that_were_lost(
    lake: LocalStore,
) -> None:
    # Given a writer that wrote three events, then crashed with two more buffered (lost)
    events = user_events("u1", "a1", T0, 5, timedelta(seconds=1))
    first = LakeWriter([lake])
    for data in records_of(events[:3]):
        first.add_record(data)
    first.flush()
    # When a new writer starts from the keys already in the lake and the stream is read again from the start
    restarted = LakeWriter([lake], seen=lake_event_keys(lake.root))
    for data in records_of(events):
        restarted.add_record(data)
    restarted.flush()
    # Then the lake holds every event once: the three written before are skipped as duplicates
    ids = ds.dataset(lake.root / "events", format="parquet").to_table(columns=["event_id"]).column(0).to_pylist()
    assert sorted(ids) == sorted(e["event_id"] for e in events)
    assert restarted.stats.duplicates == 3 and restarted.stats.rows == 2


def test_two_sources_sending_the_same_message_id_both_land_in_the_lake(lake: LocalStore) -> None:
    # Given two sources that both send messageId order-1001, each one twice (client retries)
    web = enriched(event_id="order-1001", source_id="src-web", user_id="u-web", timestamp=T0)
    ios = enriched(event_id="order-1001", source_id="src-ios", user_id="u-ios", timestamp=T0)
    writer = LakeWriter([lake])
    # When all four copies arrive in separate records
    for data in records_of([web]) + records_of([ios]) + records_of([web, ios]):
        writer.add_record(data)
    writer.flush()
    # Then the lake holds both events, once each (de-duplication per source and messageId)
    table = ds.dataset(lake.root / "events", format="parquet").to_table(columns=["source_id", "event_id"])
    assert sorted(zip(*(c.to_pylist() for c in table.columns), strict=True)) == [
        ("src-ios", "order-1001"),
        ("src-web", "order-1001"),
    ]
    assert writer.stats.duplicates == 2


def test_records_firehose_could_not_convert_go_to_the_error_prefix_with_their_data(lake: LocalStore) -> None:
    # Given a record with one good event and one of the same hour whose timestamp cannot be a time, and a record
    # that is not JSON (the processing Lambda fails it whole)
    good, bad = enriched(timestamp=T0), enriched(timestamp="2026-11-25T22:99:00.000Z")
    data = orjson.dumps(good) + b"\n" + orjson.dumps(bad) + b"\n"
    writer = LakeWriter([lake])
    # When written
    writer.add_record(data)
    writer.add_record(b"{broken\n")
    writer.flush()
    # Then the good event is in the lake and the two others are error documents holding their raw data
    error_keys = list(lake.list_keys(ERRORS_PREFIX))
    assert {k.split("/")[1] for k in error_keys} == {"format-conversion-failed", "processing-failed"}
    docs = [orjson.loads(line) for k in error_keys for line in lake.get(k).splitlines()]
    assert len(docs) == 2 and all(d["rawData"] and d["lastErrorMessage"] for d in docs)
    assert writer.stats.rows == 1 and writer.stats.errors == 2


def test_pyarrow_and_duckdb_running_athena_sql_read_the_same_rows(lake: LocalStore) -> None:
    # Given a lake written by the local writer
    events = [
        *user_events("u1", "a1", T0, 8, timedelta(minutes=3)),
        *user_events("u2", "a2", T0, 5, timedelta(minutes=7)),
        enriched(user_id=None, anonymous_id="a3", timestamp=T0, duration_ms=None, campaign_name=None),
    ]
    writer = LakeWriter([lake])
    writer.add_rows(events)
    writer.flush()
    # When pyarrow reads the dataset with Hive partitioning
    table = ds.dataset(lake.root / "events", format="parquet", partitioning="hive").to_table()
    by_arrow = sorted(
        (r["event_id"], r["user_id"], r["timestamp"], r["duration_ms"], r["dt"], r["hr"]) for r in table.to_pylist()
    )
    # And DuckDB runs an Athena query translated by sqlglot over the same files
    athena_sql = (
        'SELECT event_id, user_id, "timestamp", duration_ms, dt, hr FROM events '
        "WHERE dt BETWEEN '2026-11-25' AND '2026-11-26' ORDER BY event_id"
    )
    con = duckdb.connect()
    create_events_view(con, lake.root)
    by_duckdb = con.execute(sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]).fetchall()
    # Then both give the same rows, and they are the events that were sent
    assert [tuple(r) for r in by_duckdb] == [(*r[:4], str(r[4]), str(r[5])) for r in by_arrow]
    assert sorted(r[0] for r in by_duckdb) == sorted(e["event_id"] for e in events)


def test_athena_aggregate_sql_gives_the_same_numbers_in_duckdb_and_pyarrow(lake: LocalStore) -> None:
    # Given a lake with a known mix of users and stages
    events = [
        enriched(user_id=f"u{i % 4}", stage=("view", "use")[i % 2], timestamp=T0 + timedelta(minutes=i))
        for i in range(40)
    ]
    writer = LakeWriter([lake])
    writer.add_rows(events)
    writer.flush()
    # When DuckDB runs an Athena aggregate (approx_distinct, count_if) translated by sqlglot
    athena_sql = (
        "SELECT dt, hr, count(*) AS events, approx_distinct(user_id) AS users, count_if(stage = 'use') AS uses "
        "FROM events GROUP BY dt, hr ORDER BY dt, hr"
    )
    con = duckdb.connect()
    create_events_view(con, lake.root)
    rows = con.execute(sqlglot.transpile(athena_sql, read="athena", write="duckdb")[0]).fetchall()
    # Then the figures equal the ones pyarrow computes from the same files
    table = ds.dataset(lake.root / "events", format="parquet", partitioning="hive").to_table().to_pylist()
    keys = sorted({(str(r["dt"]), f"{int(r['hr']):02d}") for r in table})
    expected = []
    for dt, hr in keys:
        part = [r for r in table if (str(r["dt"]), f"{int(r['hr']):02d}") == (dt, hr)]
        uses = sum(1 for r in part if r["stage"] == "use")
        expected.append((dt, hr, len(part), len({r["user_id"] for r in part}), uses))
    assert rows == expected


def test_duckdb_sees_the_glue_table_schema_even_for_an_empty_lake(tmp_path: Path) -> None:
    # Given an empty lake directory, and a lake with one file
    writer = LakeWriter([LocalStore(tmp_path / "full")])
    writer.add_rows([enriched()])
    writer.flush()
    expected = [(c.name, DUCKDB_TYPES[c.type]) for c in lake_columns()] + [(p, "VARCHAR") for p in PARTITION_COLUMNS]
    assert [name for name, _ in expected] == [c["Name"] for c in glue_columns()] + list(PARTITION_COLUMNS)
    for lake_dir in (tmp_path / "empty", tmp_path / "full"):
        # When DuckDB describes the events view
        con = duckdb.connect()
        create_events_view(con, lake_dir)
        described = [(name, sql_type) for name, sql_type, *_ in con.execute("DESCRIBE events").fetchall()]
        # Then it is the Glue table's columns with dt/hr as strings
        assert described == expected
