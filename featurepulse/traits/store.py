"""Read, replace and erase the CRM trait imports and the campaign spend in an object store (docs/segments.md).

The store is the lake bucket (S3, moto) or the local lake directory (`featurepulse.lake.store`). One JSON Lines
gzip object per import: `traits/imports/<name>.<stamp>.json.gz`, `campaign_spend/<name>.<stamp>.json.gz`.

Replacing an import is all or nothing: the whole new object is written with one PUT (atomic in S3 and, through
a rename, on disk) before the old objects of the same name are deleted (with their old versions: the bucket is
versioned, and an erased user's rows must not survive there). A reader in between sees both objects; every
row carries its `imported_at`, and the view `person_traits` keeps only each name's newest, so it never mixes
two versions of an import. A failed validation writes nothing.
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from featurepulse.domain.traits import KEY_KIND_USER, TraitImportRow
from featurepulse.lake.store import ObjectStore
from featurepulse.traits.schema import (
    CAMPAIGN_SPEND_PREFIX,
    CAMPAIGN_SPEND_TABLE,
    OBJECT_SUFFIX,
    TRAIT_IMPORTS_PREFIX,
    TRAIT_IMPORTS_TABLE,
    column_names,
)

# An import's name: letters, digits, '-' and '_' (no dot: the object key is `<name>.<stamp>.json.gz`).
IMPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


@dataclass(frozen=True)
class SpendRow:
    """One row of `campaign_spend`."""

    campaign_name: str
    spend_usd: float
    import_name: str
    imported_at: str
    currency: str = "USD"

    def to_record(self) -> dict[str, Any]:
        return {
            "campaign_name": self.campaign_name,
            "spend_usd": self.spend_usd,
            "currency": self.currency,
            "import_name": self.import_name,
            "imported_at": self.imported_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SpendRow:
        return cls(
            campaign_name=str(record["campaign_name"]),
            spend_usd=float(record["spend_usd"]),
            currency=str(record["currency"]),
            import_name=str(record["import_name"]),
            imported_at=str(record["imported_at"]),
        )


@dataclass(frozen=True)
class ReplaceResult:
    key: str
    rows: int
    replaced_objects: int


def check_import_name(name: str) -> str:
    if not IMPORT_NAME.match(name):
        raise ValueError(
            f"invalid import name {name!r}: use letters, digits, '-' and '_' (at most 100, no dot or space)"
        )
    return name


def import_name_of_key(key: str) -> str:
    """`traits/imports/crm.20261204T153000123Z-ab12cd34.json.gz` -> `crm`."""
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def object_stamp(now: datetime) -> str:
    now = now.astimezone(timezone.utc)  # noqa: UP017
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-{uuid.uuid4().hex[:8]}"


def encode_records(records: Iterable[Mapping[str, Any]], columns: tuple[str, ...]) -> bytes:
    lines = (
        json.dumps({c: record[c] for c in columns}, separators=(",", ":"), ensure_ascii=False) for record in records
    )
    return gzip.compress("".join(line + "\n" for line in lines).encode("utf-8"), mtime=0)


def decode_records(data: bytes) -> Iterator[dict[str, Any]]:
    text = gzip.decompress(data).decode("utf-8") if data[:2] == b"\x1f\x8b" else data.decode("utf-8")
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


class TraitStore:
    """The `trait_imports` and `campaign_spend` tables of one lake (bucket or directory)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.description = store.description

    # --- reading ------------------------------------------------------------------------------------
    def _objects(self, prefix: str, name: str | None = None) -> list[str]:
        keys = [k for k in self.store.list_keys(prefix) if k.endswith(OBJECT_SUFFIX) and "/" not in k[len(prefix) :]]
        return sorted(k for k in keys if name is None or import_name_of_key(k) == name)

    def read_trait_imports(self) -> list[TraitImportRow]:
        return [
            TraitImportRow.from_record(r)
            for key in self._objects(TRAIT_IMPORTS_PREFIX)
            for r in decode_records(self.store.get(key))
        ]

    def read_spend(self) -> list[SpendRow]:
        return [
            SpendRow.from_record(r)
            for key in self._objects(CAMPAIGN_SPEND_PREFIX)
            for r in decode_records(self.store.get(key))
        ]

    def import_names(self, prefix: str = TRAIT_IMPORTS_PREFIX) -> list[str]:
        return sorted({import_name_of_key(k) for k in self._objects(prefix)})

    # --- writing ------------------------------------------------------------------------------------
    def _replace(self, prefix: str, name: str, data: bytes, rows: int, now: datetime) -> ReplaceResult:
        check_import_name(name)
        old = self._objects(prefix, name)
        key = f"{prefix}{name}.{object_stamp(now)}{OBJECT_SUFFIX}"
        self.store.put(key, data)  # the whole import in one PUT, before anything old goes
        for stale in old:
            if stale != key:
                self.store.delete(stale)
                self.store.purge_old_versions(stale)
        return ReplaceResult(key=key, rows=rows, replaced_objects=len([k for k in old if k != key]))

    def replace_trait_import(self, name: str, rows: list[TraitImportRow], *, now: datetime) -> ReplaceResult:
        if any(row.import_name != name for row in rows):
            raise ValueError("every row of an import carries its import name")
        data = encode_records((row.to_record() for row in rows), column_names(TRAIT_IMPORTS_TABLE))
        return self._replace(TRAIT_IMPORTS_PREFIX, name, data, len(rows), now)

    def replace_spend_import(self, name: str, rows: list[SpendRow], *, now: datetime) -> ReplaceResult:
        if any(row.import_name != name for row in rows):
            raise ValueError("every row of an import carries its import name")
        data = encode_records((row.to_record() for row in rows), column_names(CAMPAIGN_SPEND_TABLE))
        return self._replace(CAMPAIGN_SPEND_PREFIX, name, data, len(rows), now)

    # --- erasure ------------------------------------------------------------------------------------
    def erase_users(self, user_ids: Iterable[str], *, dry_run: bool = False) -> list[tuple[str, int, int]]:
        """Remove every `key_kind` 'user' row of these user ids: each affected object is rewritten in place
        (same key) or deleted when nothing is left, and its old versions are deleted. Returns (key, rows before,
        rows removed) per affected object."""
        erased = frozenset(user_ids)
        changes: list[tuple[str, int, int]] = []
        if not erased:
            return changes
        for key in self._objects(TRAIT_IMPORTS_PREFIX):
            records = list(decode_records(self.store.get(key)))
            kept = [r for r in records if not (r.get("key_kind") == KEY_KIND_USER and str(r.get("key")) in erased)]
            if len(kept) == len(records):
                continue
            changes.append((key, len(records), len(records) - len(kept)))
            if dry_run:
                continue
            if kept:
                self.store.put(key, encode_records(kept, column_names(TRAIT_IMPORTS_TABLE)))
            else:
                self.store.delete(key)
            self.store.purge_old_versions(key)
        return changes
