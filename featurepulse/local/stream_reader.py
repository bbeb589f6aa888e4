"""Read the (moto) Kinesis stream the way a real consumer would: every shard, in order, record by record.

Used by the local components that stand in for Firehose and for the Flink Kinesis connector.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamRecordRead:
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes
    arrival_epoch_s: float


class StreamReader:
    """Polls every shard of a stream from a starting position; `poll()` returns what arrived since last call."""

    def __init__(self, kinesis: Any, stream_name: str, *, from_start: bool = True, limit: int = 10_000) -> None:
        self._kinesis = kinesis
        self._stream_name = stream_name
        self._limit = limit
        self._iterators: dict[str, str | None] = {}
        kind = "TRIM_HORIZON" if from_start else "LATEST"
        for shard in self._list_shards():
            it = kinesis.get_shard_iterator(StreamName=stream_name, ShardId=shard, ShardIteratorType=kind)
            self._iterators[shard] = it["ShardIterator"]

    def _list_shards(self) -> list[str]:
        shards: list[str] = []
        kwargs: dict[str, Any] = {"StreamName": self._stream_name}
        while True:
            page = self._kinesis.list_shards(**kwargs)
            shards.extend(s["ShardId"] for s in page["Shards"])
            token = page.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}

    def poll(self) -> list[StreamRecordRead]:
        out: list[StreamRecordRead] = []
        for shard, iterator in list(self._iterators.items()):
            while iterator:
                page = self._kinesis.get_records(ShardIterator=iterator, Limit=self._limit)
                iterator = page.get("NextShardIterator")
                for r in page["Records"]:
                    arrival = r.get("ApproximateArrivalTimestamp")
                    out.append(
                        StreamRecordRead(
                            shard_id=shard,
                            sequence_number=r["SequenceNumber"],
                            partition_key=r["PartitionKey"],
                            data=bytes(r["Data"]),
                            arrival_epoch_s=arrival.timestamp() if arrival is not None else time.time(),
                        )
                    )
                if not page["Records"]:
                    break
            self._iterators[shard] = iterator
        return out

    def follow(self, stop: threading.Event, interval_s: float = 0.2) -> Iterator[list[StreamRecordRead]]:
        """Yield each non-empty poll until `stop` is set."""
        while not stop.is_set():
            batch = self.poll()
            if batch:
                yield batch
            else:
                stop.wait(interval_s)
