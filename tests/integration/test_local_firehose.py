"""The local Firehose stand-in against a moto server: every accepted event of a run lands in the lake exactly
once, in the local directory and in the moto lake bucket alike; quarantine objects are mirrored."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.dataset as ds
import pytest
from moto.server import ThreadedMotoServer

from featurepulse.domain.packing import pack_events
from featurepulse.domain.quarantine import QuarantinedEvent, quarantine_key
from featurepulse.lake.layout import EVENTS_PREFIX
from featurepulse.lake.local import LocalFirehose, lake_totals
from featurepulse.lake.parquet import parquet_to_table
from featurepulse.lake.writer import BufferingHints
from featurepulse.local.components import AddressBook, LocalComponent, LocalContext
from tests.lake_samples import enriched, quarantined, user_events

T0 = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)


@pytest.fixture
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def ctx(moto_url: str, tmp_path: Path) -> LocalContext:
    # moto's backends are process-wide: names unique to the test keep tests apart.
    suffix = uuid.uuid4().hex[:8]
    context = LocalContext(
        root=tmp_path,
        address_book=AddressBook(tmp_path / "local.json"),
        aws_endpoint_url=moto_url,
        region="us-east-1",
        stream_name=f"events-{suffix}",
        sources_table="sources",
        lake_bucket=f"lake-{suffix}",
        lake_dir=tmp_path / "lake",
        quarantine_dir=tmp_path / "quarantine",
        outbox_dir=tmp_path / "outbox",
        stop_event=threading.Event(),
    )
    kinesis = context.client("kinesis")
    kinesis.create_stream(StreamName=context.stream_name, ShardCount=3)
    kinesis.get_waiter("stream_exists").wait(StreamName=context.stream_name, WaiterConfig={"Delay": 0.1})
    context.client("s3").create_bucket(Bucket=context.lake_bucket)
    return context


def put(ctx: LocalContext, events: list[dict[str, Any]]) -> None:
    records = pack_events((str(e["user_id"]), str(e["event_id"]), orjson.dumps(e)) for e in events)
    ctx.client("kinesis").put_records(
        StreamName=ctx.stream_name, Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in records]
    )


def test_it_is_a_local_component() -> None:
    assert isinstance(LocalFirehose(), LocalComponent)


def test_every_accepted_event_is_in_the_lake_exactly_once_even_when_sent_twice(ctx: LocalContext) -> None:
    # Given events of 3 users across midnight, and a client retry that put some of them on the stream again
    events = [e for u in range(3) for e in user_events(f"u{u}", f"a{u}", T0, 20, timedelta(minutes=4))]
    firehose = LocalFirehose(poll_interval_s=0.05)
    firehose.start(ctx)
    try:
        put(ctx, events)
        put(ctx, events[5:25])  # the retry: same event ids, other records
        # When the demo ends and the component drains the stream
        firehose.drain(ctx, timeout_s=30)
    finally:
        firehose.stop()
    # Then the local lake holds every event exactly once, in its hour partition
    table = ds.dataset(ctx.lake_dir / "events", format="parquet", partitioning="hive").to_table()
    ids = table.column("event_id").to_pylist()
    assert sorted(ids) == sorted(e["event_id"] for e in events)
    partitions = {(str(r["dt"]), f"{int(r['hr']):02d}") for r in table.select(["dt", "hr"]).to_pylist()}
    assert partitions == {("2026-11-25", "23"), ("2026-11-26", "00")}
    # And the moto lake bucket holds the very same files, so erasure and replay see the same lake
    s3 = ctx.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=ctx.lake_bucket, Prefix=EVENTS_PREFIX)["Contents"])
    local = sorted(p.relative_to(ctx.lake_dir).as_posix() for p in (ctx.lake_dir / "events").rglob("*.parquet"))
    assert keys == local
    bucket_ids = [
        i
        for k in keys
        for i in parquet_to_table(s3.get_object(Bucket=ctx.lake_bucket, Key=k)["Body"].read())
        .column("event_id")
        .to_pylist()
    ]
    assert sorted(bucket_ids) == sorted(ids)


def test_two_sources_with_the_same_message_id_are_both_in_the_lake_and_their_resends_are_not(ctx: LocalContext) -> None:
    # Given two sources that both send messageId order-1001, and each resend put on the stream again
    web = enriched(event_id="order-1001", source_id="src-web", user_id="u-web", timestamp=T0)
    ios = enriched(event_id="order-1001", source_id="src-ios", user_id="u-ios", timestamp=T0)
    firehose = LocalFirehose(poll_interval_s=0.05)
    firehose.start(ctx)
    try:
        put(ctx, [web, ios])
        put(ctx, [ios, web])
        # When the component drains the stream
        firehose.drain(ctx, timeout_s=30)
    finally:
        firehose.stop()
    # Then the lake holds both events, once each
    table = ds.dataset(ctx.lake_dir / "events", format="parquet", partitioning="hive").to_table()
    assert sorted(zip(table.column("source_id").to_pylist(), table.column("event_id").to_pylist(), strict=True)) == [
        ("src-ios", "order-1001"),
        ("src-web", "order-1001"),
    ]


def test_events_that_arrive_after_a_flush_are_written_in_a_new_file(ctx: LocalContext) -> None:
    # Given a component with a 0.2 s buffering interval, and a late event for an hour already written
    firehose = LocalFirehose(hints=BufferingHints(size_bytes=64 * 1024 * 1024, interval_s=0.2), poll_interval_s=0.05)
    firehose.start(ctx)
    try:
        put(ctx, user_events("u1", "a1", T0, 3, timedelta(minutes=1)))
        firehose.drain(ctx, timeout_s=30)
        put(ctx, user_events("u2", "a2", T0, 1, timedelta(minutes=1)))
        firehose.drain(ctx, timeout_s=30)
    finally:
        firehose.stop()
    # Then the partition has two files (partitions are never closed) with all four events
    files = sorted((ctx.lake_dir / "events" / "dt=2026-11-25" / "hr=23").glob("*.parquet"))
    assert len(files) == 2
    assert lake_totals(ctx.lake_dir)[1] == 4


def test_quarantine_objects_are_mirrored_and_counted_in_the_summary(ctx: LocalContext) -> None:
    # Given an invalid event the ingest handler quarantined in the moto lake bucket
    record = QuarantinedEvent.model_validate(quarantined())
    key = quarantine_key("quarantine/", record.received_at, record.request_id)
    ctx.client("s3").put_object(Bucket=ctx.lake_bucket, Key=key, Body=record.model_dump_json().encode() + b"\n")
    firehose = LocalFirehose(poll_interval_s=0.05)
    firehose.start(ctx)
    try:
        put(ctx, user_events("u1", "a1", T0, 4, timedelta(minutes=1)))
        firehose.drain(ctx, timeout_s=30)
        lines = firehose.summary(ctx)
    finally:
        firehose.stop()
    # Then it is in the local quarantine directory, and the summary gives the lake's path, files, rows, bytes/event
    mirrored = ctx.quarantine_dir / key.removeprefix("quarantine/")
    assert json.loads(mirrored.read_text())["reason"] == record.reason
    assert (
        str(ctx.lake_dir / "events") in lines[0] and "1 Parquet files, 4 rows" in lines[0] and "bytes/event" in lines[0]
    )
    assert any("1 objects, 1 events" in line for line in lines)
    # And the address book says where the lake is
    book = json.loads((ctx.root / "local.json").read_text())
    assert book["lake_dir"] == str(ctx.lake_dir) and book["quarantine_dir"] == str(ctx.quarantine_dir)


def test_stop_is_safe_twice_and_without_start() -> None:
    firehose = LocalFirehose()
    firehose.stop()
    firehose.stop()
