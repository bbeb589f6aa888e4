"""The sources table (DynamoDB): one item per source (one client app), keyed by the hash of its write key.

Item: `pk` (sha256 hex of the write key; the key itself is never stored), `source_id`, `name`, `created_at`,
`status` (`active` or `revoked`) and `revoked_at` once revoked.

`SourceCache` is the ingest runtime's lookup: each answer is kept for a TTL (default 60 s,
`SOURCES_CACHE_TTL_SECONDS`), so a revocation takes effect within the TTL in every running Lambda; an unknown
key is remembered for at most 5 s, so that a newly created source works almost at once. The cache is keyed by
the key's SHA-256 and bounded (known and unknown keys apart): unauthenticated traffic cannot grow it or evict
a valid key.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
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
NEGATIVE_CACHE_MAX_ENTRIES = 4096
# Our keys are 32 characters (`featurepulse.sources`); Segment's are about as long. 256 leaves room for keys
# imported from elsewhere; the API refuses a longer key before it is hashed or looked up.
MAX_WRITE_KEY_CHARS = 256


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
    return hashlib.sha256(write_key.encode("utf-8", "surrogatepass")).hexdigest()


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
    """Write key -> source, cached per process for `ttl_seconds` (unknown keys for at most 5 s).

    Entries are keyed by the SHA-256 digest of the key (32 bytes whatever the key), never by the key itself, and
    the cache is bounded twice: at most `max_entries` known keys (least recently used first out) and, apart,
    at most `max_unknown_entries` unknown ones. Unknown keys cost nothing to send, so a flood of random keys
    only cycles the unknown side and can never evict a valid key. A key longer than `MAX_WRITE_KEY_CHARS` is
    unknown without a lookup (the API refuses it before it gets here).
    """

    def __init__(
        self,
        lookup: Callable[[str], Source | None],
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = CACHE_MAX_ENTRIES,
        max_unknown_entries: int = NEGATIVE_CACHE_MAX_ENTRIES,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl_seconds
        self._negative_ttl = min(ttl_seconds, NEGATIVE_TTL_SECONDS)
        self._clock = clock
        self._max_entries = max(1, max_entries)
        self._max_unknown_entries = max(1, max_unknown_entries)
        # digest -> (expires at, source); insertion/use order is the LRU order
        self._known: OrderedDict[bytes, tuple[float, Source]] = OrderedDict()
        self._unknown: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known) + len(self._unknown)

    def cached(self, write_key: str) -> bool:
        """Whether `write_key` would be answered from the cache now (no lookup)."""
        if len(write_key) > MAX_WRITE_KEY_CHARS:
            return True
        digest = _digest(write_key)
        now = self._clock()
        known = self._known.get(digest)
        if known is not None and known[0] > now:
            return True
        expires = self._unknown.get(digest)
        return expires is not None and expires > now

    def get(self, write_key: str) -> Source | None:
        """The source of `write_key` (None when unknown); revoked sources are returned, `active` False."""
        if len(write_key) > MAX_WRITE_KEY_CHARS:
            return None
        digest = _digest(write_key)
        now = self._clock()
        known = self._known.get(digest)
        if known is not None:
            if known[0] > now:
                self._known.move_to_end(digest)
                return known[1]
            del self._known[digest]
        expires = self._unknown.get(digest)
        if expires is not None:
            if expires > now:
                return None
            del self._unknown[digest]
        source = self._lookup(write_key)
        if source is None:
            self._unknown[digest] = now + self._negative_ttl
            while len(self._unknown) > self._max_unknown_entries:
                self._unknown.popitem(last=False)
        else:
            self._known[digest] = (now + self._ttl, source)
            while len(self._known) > self._max_entries:
                self._known.popitem(last=False)
        return source


def _digest(write_key: str) -> bytes:
    return hashlib.sha256(write_key.encode("utf-8", "surrogatepass")).digest()
