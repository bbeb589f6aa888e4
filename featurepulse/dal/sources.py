"""The sources table (DynamoDB): one item per source (one client app), keyed by the hash of its write key.

Item: `pk` (sha256 hex of the write key; the key itself is never stored), `source_id`, `name`, `created_at`,
`status` (`active` or `revoked`) and `revoked_at` once revoked.

`SourceCache` is the ingest runtime's lookup: each answer is kept for a TTL (default 60 s,
`SOURCES_CACHE_TTL_SECONDS`), so a revocation takes effect within the TTL in every running Lambda; an unknown
key is remembered for at most 5 s, so that a newly created source works almost at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurepulse.constants import SOURCES_TABLE_PARTITION_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

PK = SOURCES_TABLE_PARTITION_KEY
STATUS_ACTIVE = "active"
STATUS_REVOKED = "revoked"
NEGATIVE_TTL_SECONDS = 5.0
CACHE_MAX_ENTRIES = 1024


@dataclass(frozen=True)
class Source:
    source_id: str
    name: str
    created_at: str
    status: str = STATUS_ACTIVE
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.status == STATUS_ACTIVE


class SourceNotFoundError(LookupError):
    """No source has this id."""


def hash_write_key(write_key: str) -> str:
    return hashlib.sha256(write_key.encode()).hexdigest()


def _source_from_item(item: dict[str, AttributeValueTypeDef]) -> Source:
    def text(name: str) -> str | None:
        value = item.get(name)
        return None if value is None else value.get("S")

    return Source(
        source_id=text("source_id") or "",
        name=text("name") or "",
        created_at=text("created_at") or "",
        status=text("status") or STATUS_ACTIVE,
        revoked_at=text("revoked_at"),
    )


def put_source(client: DynamoDBClient, table_name: str, *, write_key_hash: str, source: Source) -> None:
    """Store a new source; refuses to overwrite an existing key (a hash collision would be a bug)."""
    client.put_item(
        TableName=table_name,
        Item={
            PK: {"S": write_key_hash},
            "source_id": {"S": source.source_id},
            "name": {"S": source.name},
            "created_at": {"S": source.created_at},
            "status": {"S": source.status},
        },
        ConditionExpression="attribute_not_exists(#pk)",
        ExpressionAttributeNames={"#pk": PK},
    )


def get_source_by_write_key(client: DynamoDBClient, table_name: str, write_key: str) -> Source | None:
    response = client.get_item(TableName=table_name, Key={PK: {"S": hash_write_key(write_key)}}, ConsistentRead=True)
    item = response.get("Item")
    return None if item is None else _source_from_item(item)


def _scan(client: DynamoDBClient, table_name: str) -> Iterator[dict[str, AttributeValueTypeDef]]:
    for page in client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        yield from page.get("Items", [])


def scan_sources(client: DynamoDBClient, table_name: str) -> list[Source]:
    """Every source, oldest first (a table of a few sources per app: a scan is the simple, right tool)."""
    return sorted((_source_from_item(i) for i in _scan(client, table_name)), key=lambda s: s.created_at)


def revoke_source_item(client: DynamoDBClient, table_name: str, source_id: str, *, revoked_at: str) -> Source:
    """Mark a source revoked (idempotent: revoking twice keeps the first `revoked_at`)."""
    for item in _scan(client, table_name):
        source = _source_from_item(item)
        if source.source_id != source_id:
            continue
        if not source.active:
            return source
        response = client.update_item(
            TableName=table_name,
            Key={PK: item[PK]},
            UpdateExpression="SET #status = :revoked, revoked_at = :at",
            ConditionExpression="attribute_exists(#pk)",
            ExpressionAttributeNames={"#status": "status", "#pk": PK},
            ExpressionAttributeValues={":revoked": {"S": STATUS_REVOKED}, ":at": {"S": revoked_at}},
            ReturnValues="ALL_NEW",
        )
        return _source_from_item(response["Attributes"])
    raise SourceNotFoundError(source_id)


class SourceCache:
    """Write key -> source, cached per process for `ttl_seconds` (unknown keys for at most 5 s)."""

    def __init__(
        self,
        lookup: Callable[[str], Source | None],
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, Source | None]] = {}

    def get(self, write_key: str) -> Source | None:
        """The source of `write_key` (None when unknown); revoked sources are returned, `active` False."""
        now = self._clock()
        cached = self._entries.get(write_key)
        if cached is not None and cached[0] > now:
            return cached[1]
        source = self._lookup(write_key)
        ttl = self._ttl if source is not None else min(self._ttl, NEGATIVE_TTL_SECONDS)
        if len(self._entries) >= CACHE_MAX_ENTRIES:
            self._entries.clear()
        self._entries[write_key] = (now + ttl, source)
        return source
