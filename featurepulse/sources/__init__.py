"""Sources: one per client app, each with a write key (docs/design.md section 1, Auth).

A write key is shown once, when its source is created; the table stores only its sha256. Revoking a source
makes the API answer 401 to its key within the ingest runtime's cache TTL (`SOURCES_CACHE_TTL_SECONDS`).

Programmatic API (used by `featurepulse sources` and by the local runtime):
`create_source(table_name, name)`, `list_sources(table_name)`, `revoke_source(table_name, source_id)`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import boto3

from featurepulse.dal.sources import (
    Source,
    SourceNotFoundError,
    hash_write_key,
    put_source,
    revoke_source_item,
    scan_sources,
)
from featurepulse.domain.schema import format_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "CreatedSource",
    "Source",
    "SourceNotFoundError",
    "create_source",
    "list_sources",
    "new_write_key",
    "revoke_source",
]

MAX_NAME_CHARS = 128


@dataclass(frozen=True)
class CreatedSource:
    """A new source and its write key (shown once: only its hash is stored)."""

    source_id: str
    name: str
    write_key: str
    created_at: str


def new_write_key() -> str:
    """32 URL-safe characters (192 random bits): usable as a Basic-auth user name and in a JSON body."""
    return secrets.token_urlsafe(24)


def _client(dynamodb_client: DynamoDBClient | None) -> DynamoDBClient:
    # boto3 reads AWS_ENDPOINT_URL (moto locally) and the region from the environment.
    return dynamodb_client if dynamodb_client is not None else boto3.client("dynamodb")


def create_source(table_name: str, name: str, *, dynamodb_client: DynamoDBClient | None = None) -> CreatedSource:
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a source name must be 1 to {MAX_NAME_CHARS} characters")
    write_key = new_write_key()
    source = Source(
        source_id="src_" + secrets.token_hex(8),
        name=name,
        created_at=format_timestamp(datetime.now(UTC)),
    )
    put_source(_client(dynamodb_client), table_name, write_key_hash=hash_write_key(write_key), source=source)
    return CreatedSource(source_id=source.source_id, name=name, write_key=write_key, created_at=source.created_at)


def list_sources(table_name: str, *, dynamodb_client: DynamoDBClient | None = None) -> list[Source]:
    return scan_sources(_client(dynamodb_client), table_name)


def revoke_source(table_name: str, source_id: str, *, dynamodb_client: DynamoDBClient | None = None) -> Source:
    """Revoke a source (idempotent); raises `SourceNotFoundError` when no source has this id."""
    return revoke_source_item(
        _client(dynamodb_client), table_name, source_id, revoked_at=format_timestamp(datetime.now(UTC))
    )
