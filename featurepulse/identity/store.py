"""Read and write the identity tables in an object store: the lake bucket (S3, moto) or the local lake directory.

Objects are JSON Lines, gzip-compressed, one object per table (`identity/persons/identities-<stamp>.json.gz`,
`identity/links/links-<stamp>.json.gz`). A write puts the new object first and deletes the older ones after:
a reader that lists the prefix in between sees both, and `read_*` here takes the newest (a query engine reading
the whole prefix for those moments sees two snapshots; the base view keeps one row per id). Keys sort by time.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from featurepulse.domain.identity import IdentityLink, IdentityRow
from featurepulse.identity.schema import (
    IDENTITIES_COLUMNS,
    IDENTITY_LINKS_COLUMNS,
    LINKS_PREFIX,
    OBJECT_SUFFIX,
    PERSONS_PREFIX,
    STATE_KEY,
)
from featurepulse.lake.store import ObjectStore


@dataclass(frozen=True)
class BuildState:
    """What the last build did: the next incremental build reads the partitions from `last_built_day` - 1."""

    last_built_day: date
    built_at: str
    links_key: str
    persons_key: str
    links: int
    ids: int
    persons: int

    def to_json(self) -> bytes:
        record = {**self.__dict__, "last_built_day": self.last_built_day.isoformat()}
        return json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> BuildState:
        record: dict[str, Any] = json.loads(data)
        record["last_built_day"] = date.fromisoformat(record["last_built_day"])
        return cls(**record)


def encode_records(records: Iterable[dict[str, str]], columns: tuple[str, ...]) -> bytes:
    lines = (json.dumps({c: record[c] for c in columns}, separators=(",", ":"), sort_keys=False) for record in records)
    # mtime=0: the same rows give the same bytes.
    return gzip.compress("".join(line + "\n" for line in lines).encode(), mtime=0)


def decode_records(data: bytes) -> Iterator[dict[str, Any]]:
    text = gzip.decompress(data).decode("utf-8") if data[:2] == b"\x1f\x8b" else data.decode("utf-8")
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def object_stamp(now: datetime) -> str:
    """Sortable and unique: two builds in the same millisecond still get two keys."""
    now = now.astimezone(timezone.utc)  # noqa: UP017 - Python 3.9 (Glue Python shell)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-{uuid.uuid4().hex[:8]}"


class IdentityStore:
    """The identity tables of one lake (bucket or directory)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.description = store.description

    # --- reading ------------------------------------------------------------------------------------
    def _objects(self, prefix: str) -> list[str]:
        return sorted(k for k in self.store.list_keys(prefix) if k.endswith(OBJECT_SUFFIX))

    def _newest(self, prefix: str) -> str | None:
        keys = self._objects(prefix)
        return keys[-1] if keys else None

    def read_links(self) -> list[IdentityLink]:
        key = self._newest(LINKS_PREFIX)
        return [] if key is None else [IdentityLink.from_record(r) for r in decode_records(self.store.get(key))]

    def read_identities(self) -> list[IdentityRow]:
        key = self._newest(PERSONS_PREFIX)
        return [] if key is None else [IdentityRow.from_record(r) for r in decode_records(self.store.get(key))]

    def read_state(self) -> BuildState | None:
        if not any(k == STATE_KEY for k in self.store.list_keys(STATE_KEY)):
            return None
        return BuildState.from_json(self.store.get(STATE_KEY))

    # --- writing ------------------------------------------------------------------------------------
    def _replace(self, prefix: str, name: str, data: bytes, stamp: str) -> str:
        old = self._objects(prefix)
        key = f"{prefix}{name}-{stamp}{OBJECT_SUFFIX}"
        self.store.put(key, data)  # the new object first: readers see the old one, both, or the new one
        for stale in old:
            if stale != key:
                self.store.delete(stale)
                self.store.purge_old_versions(stale)  # erased ids must not survive in old versions
        return key

    def write(self, links: list[IdentityLink], identities: list[IdentityRow], *, now: datetime) -> tuple[str, str]:
        """Replace both tables; returns (links key, persons key)."""
        stamp = object_stamp(now)
        links_key = self._replace(
            LINKS_PREFIX, "links", encode_records((link.to_record() for link in links), IDENTITY_LINKS_COLUMNS), stamp
        )
        persons_key = self._replace(
            PERSONS_PREFIX,
            "identities",
            encode_records((row.to_record() for row in identities), IDENTITIES_COLUMNS),
            stamp,
        )
        return links_key, persons_key

    def write_state(self, state: BuildState) -> None:
        self.store.put(STATE_KEY, state.to_json())
