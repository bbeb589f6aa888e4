"""The local runtime's patch of moto's Kinesis shard (featurepulse/local/moto_kinesis.py) answers what moto's own
code answers, on the same shards, for every position and limit; only faster."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.kinesis.models import Shard

from featurepulse.local import moto_kinesis


@pytest.fixture
def unpatched_moto() -> Iterator[None]:
    """moto as it is for the test (a local stack started earlier in this process applied the patch)."""
    was_applied = moto_kinesis.is_applied()
    moto_kinesis.remove()
    yield
    if was_applied:
        moto_kinesis.apply()
    else:
        moto_kinesis.remove()


def _shard_with(records: int) -> Shard:
    shard = Shard(0, starting_hash=0, ending_hash=2**128 - 1)
    for i in range(records):
        moto_kinesis.original("put_record")(shard, f"pk-{i}", base64.b64encode(f"r{i}".encode()).decode(), "")
    return shard


def _view(answer: tuple[list[Any], int, int]) -> tuple[list[int], int, int]:
    records, last, millis = answer
    return [r.sequence_number for r in records], int(last), millis


@settings(max_examples=200, deadline=None)
@given(
    records=st.integers(min_value=0, max_value=40),
    last=st.integers(min_value=0, max_value=45),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=50)),
)
def test_get_records_answers_what_motos_scan_answers(records: int, last: int, limit: int | None):
    # Given a shard holding some records (put by moto's own code)
    shard = _shard_with(records)
    # When both implementations read from the same position with the same limit
    ours = moto_kinesis._get_records(shard, str(last), limit)
    motos = moto_kinesis.original("get_records")(shard, str(last), limit)
    # Then they return the same records, the same next position and the same MillisBehindLatest
    assert _view(ours) == _view(motos)
    assert [r.data for r in ours[0]] == [r.data for r in motos[0]]


@settings(max_examples=50, deadline=None)
@given(records=st.integers(min_value=0, max_value=30), more=st.integers(min_value=1, max_value=10))
def test_put_record_numbers_and_bounds_as_moto_does(records: int, more: int):
    # Given two equal shards, one written by moto's code and one by the patch
    theirs, ours = _shard_with(records), _shard_with(records)
    # When more records are put into each
    for i in range(more):
        data = base64.b64encode(f"more-{i}".encode()).decode()
        assert moto_kinesis._put_record(ours, "pk", data, "") == moto_kinesis.original("put_record")(
            theirs, "pk", data, ""
        )
    # Then both hold the same sequence numbers and report the same first and last ones
    assert list(ours.records) == list(theirs.records)
    assert moto_kinesis._get_min_sequence_number(ours) == moto_kinesis.original("get_min_sequence_number")(theirs)
    assert moto_kinesis._get_max_sequence_number(ours) == moto_kinesis.original("get_max_sequence_number")(theirs)


def test_a_replaced_records_dict_is_indexed_again():
    # Given a shard the patch has indexed, whose dict is then replaced (moto's split_shard does this)
    shard = _shard_with(5)
    moto_kinesis._get_records(shard, "0", None)
    shard.records = type(shard.records)()
    # When it is read and written again
    # Then the patch sees the new (empty) dict, not its old index
    assert _view(moto_kinesis._get_records(shard, "0", None)) == ([], 0, 0)
    assert moto_kinesis._get_max_sequence_number(shard) == 0
    assert moto_kinesis._put_record(shard, "pk", "eA==", "") == "1"


def _read_everything(client: Any, stream: str) -> list[tuple[str, str, bytes]]:
    """Every record of every shard, read with small pages, plus reads from every iterator type."""
    out: list[tuple[str, str, bytes]] = []
    for shard in client.list_shards(StreamName=stream)["Shards"]:
        shard_id = shard["ShardId"]
        iterator = client.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while True:
            page = client.get_records(ShardIterator=iterator, Limit=3)
            out += [(shard_id, r["SequenceNumber"], r["Data"]) for r in page["Records"]]
            iterator = page["NextShardIterator"]
            if not page["Records"]:
                break
        for kind, extra in (
            ("AT_SEQUENCE_NUMBER", {"StartingSequenceNumber": "2"}),
            ("AFTER_SEQUENCE_NUMBER", {"StartingSequenceNumber": "2"}),
            ("LATEST", {}),
        ):
            it = client.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType=kind, **extra)
            page = client.get_records(ShardIterator=it["ShardIterator"], Limit=100)
            out += [(f"{shard_id}/{kind}", r["SequenceNumber"], r["Data"]) for r in page["Records"]]
    return out


def _a_streams_life() -> tuple[list[tuple[str, str, bytes]], list[dict[str, Any]]]:
    with mock_aws():
        client = boto3.client("kinesis", region_name="us-east-1")
        client.create_stream(StreamName="s", ShardCount=2)
        for batch in range(4):
            client.put_records(
                StreamName="s",
                Records=[{"Data": f"{batch}-{i}".encode(), "PartitionKey": f"user-{i % 7}"} for i in range(25)],
            )
        first = client.list_shards(StreamName="s")["Shards"][0]
        middle = (int(first["HashKeyRange"]["StartingHashKey"]) + int(first["HashKeyRange"]["EndingHashKey"])) // 2
        client.split_shard(StreamName="s", ShardToSplit=first["ShardId"], NewStartingHashKey=str(middle))
        client.put_records(StreamName="s", Records=[{"Data": b"after", "PartitionKey": f"k{i}"} for i in range(10)])
        shards = client.list_shards(StreamName="s")["Shards"]
        return _read_everything(client, "s"), shards


def test_a_stream_reads_the_same_through_boto3_with_and_without_the_patch(unpatched_moto: None):
    # Given the same puts, a shard split and more puts, once on moto as it is and once patched
    plain = _a_streams_life()
    moto_kinesis.apply()
    ours = _a_streams_life()
    # Then every read (all iterator types, small pages) and the shard listing are the same
    assert ours == plain
    assert len(plain[0]) > 100
