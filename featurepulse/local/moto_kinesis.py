"""A performance patch of moto's Kinesis shard, applied by the local runtime only (featurepulse/local/runtime.py).

moto 5.2 keeps a shard's records in an insertion-ordered dict keyed by sequence number and finds records by
walking it: `Shard.get_records` scans every record from the first on each call, and `Shard.put_record` (via
`get_max_sequence_number`) copies the list of all keys for every record it puts. Both cost O(records in the
shard) per record or call, so a long local run slows down as its stream grows: the soak sent 580 events/s at
the start and 237 at 90,000 events (docs/reliability.md).

The patch keeps, beside each shard's dict, the list of its sequence numbers (ascending: moto numbers a shard's
records 1, 2, 3, ... in insertion order) and answers by bisection:

- `get_records(last, limit)`: the records after `last`, at most `limit`, in order, the same next position and
  the same `MillisBehindLatest` (newest record's arrival - the last returned record's arrival, 0 if none);
- `put_record`: the next sequence number is the last one + 1, as moto's; under a lock, so two concurrent puts
  to one shard can no longer take the same number (moto's own note: "not safe for concurrency");
- `get_min_sequence_number` / `get_max_sequence_number`: the first / last key, 0 for an empty shard.

Same semantics as moto's code (tests/unit/test_moto_kinesis_patch.py runs both on the same shards). The index is
rebuilt from the dict whenever it no longer matches it (moto's `split_shard` replaces a shard's dict), so code
that writes `shard.records` directly stays correct. Nothing else of moto changes; `remove()` undoes the patch.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_LOCK = threading.RLock()
_INDEX_ATTRIBUTE = "_featurepulse_sequence_index"
_PATCHED_METHODS = ("get_records", "put_record", "get_min_sequence_number", "get_max_sequence_number")
_originals: dict[str, Callable[..., Any]] = {}


@dataclass
class _SequenceIndex:
    records: dict[int, Any]  # the dict this index describes (identity checked)
    keys: list[int] = field(default_factory=list)  # its keys, ascending


def _index(shard: Any) -> _SequenceIndex:
    """The shard's index, rebuilt if the shard's dict was replaced or changed behind the patch. Call under _LOCK."""
    index: _SequenceIndex | None = getattr(shard, _INDEX_ATTRIBUTE, None)
    records = shard.records
    if index is None or index.records is not records or len(index.keys) != len(records):
        index = _SequenceIndex(records=records, keys=sorted(records))
        setattr(shard, _INDEX_ATTRIBUTE, index)
    return index


def _get_records(shard: Any, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
    if limit is not None and limit <= 0:  # never sent by boto3 (Limit >= 1); moto's own loop has its own rule
        return _originals["get_records"](shard, last_sequence_id, limit)  # type: ignore[no-any-return]
    last = int(last_sequence_id)
    with _LOCK:
        index = _index(shard)
        start = bisect_right(index.keys, last)
        chosen = index.keys[start:] if limit is None else index.keys[start : start + limit]
        records = [index.records[k] for k in chosen]
        newest = index.records[index.keys[-1]] if index.keys else None
    if not records or newest is None:
        return [], last, 0
    millis_behind_latest = int((newest.created_at - records[-1].created_at) * 1000)
    return records, records[-1].sequence_number, millis_behind_latest


def _put_record(shard: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
    from moto.kinesis.models import Record

    with _LOCK:
        index = _index(shard)
        sequence_number = (index.keys[-1] if index.keys else 0) + 1
        index.records[sequence_number] = Record(partition_key, data, sequence_number, explicit_hash_key)
        index.keys.append(sequence_number)
    return str(sequence_number)


def _get_min_sequence_number(shard: Any) -> int:
    with _LOCK:
        keys = _index(shard).keys
        return keys[0] if keys else 0


def _get_max_sequence_number(shard: Any) -> int:
    with _LOCK:
        keys = _index(shard).keys
        return keys[-1] if keys else 0


_REPLACEMENTS: dict[str, Callable[..., Any]] = {
    "get_records": _get_records,
    "put_record": _put_record,
    "get_min_sequence_number": _get_min_sequence_number,
    "get_max_sequence_number": _get_max_sequence_number,
}


def apply() -> None:
    """Patch moto's `Shard` (idempotent)."""
    from moto.kinesis.models import Shard

    with _LOCK:
        if _originals:
            return
        for name in _PATCHED_METHODS:
            _originals[name] = getattr(Shard, name)
            setattr(Shard, name, _REPLACEMENTS[name])


def remove() -> None:
    """Restore moto's own methods (tests)."""
    from moto.kinesis.models import Shard

    with _LOCK:
        for name, original in _originals.items():
            setattr(Shard, name, original)
        _originals.clear()


def is_applied() -> bool:
    return bool(_originals)


def original(name: str) -> Callable[..., Any]:
    """moto's own implementation of a patched method (tests compare both)."""
    if name in _originals:
        return _originals[name]
    from moto.kinesis.models import Shard

    method: Callable[..., Any] = getattr(Shard, name)
    return method
