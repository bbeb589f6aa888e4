"""The object-store seam of the lake tools: the lake bucket in S3 (moto in tests and in local mode) or the
local lake directory. Erasure, replay and the local Firehose only speak this small interface, so the same code
runs against AWS, moto and a folder.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ObjectStore(Protocol):
    description: str

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under `prefix`, in lexical order."""

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> io.RawIOBase:
        """A seekable read-only file: Parquet readers fetch only the footer and the columns they need."""

    def put(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def purge_old_versions(self, key: str) -> int:
        """Delete the non-current versions of `key` (a versioned bucket keeps erased rows in them)."""


class LocalStore:
    """A directory laid out like the bucket. `mounts` maps key prefixes to other directories (e.g. the
    `quarantine/` prefix to the local quarantine directory)."""

    def __init__(self, root: Path, mounts: Mapping[str, Path] | None = None) -> None:
        self.root = root
        self.mounts = dict(mounts or {})
        self.description = str(root)

    def _path(self, key: str) -> Path:
        for prefix, directory in self.mounts.items():
            if key.startswith(prefix):
                return directory / key[len(prefix) :]
        return self.root / key

    def _dir_for_prefix(self, prefix: str) -> tuple[Path, str]:
        for mount, directory in self.mounts.items():
            if prefix.startswith(mount):
                return directory, mount
        return self.root, ""

    def list_keys(self, prefix: str) -> Iterator[str]:
        base, mount = self._dir_for_prefix(prefix)
        if not base.is_dir():
            return
        keys: list[str] = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.endswith(".tmp"):
                    continue
                rel = (Path(dirpath) / name).relative_to(base).as_posix()
                key = mount + rel
                if key.startswith(prefix) and not self._shadowed(key, mount):
                    keys.append(key)
        yield from sorted(keys)

    def _shadowed(self, key: str, mount: str) -> bool:
        # A key under the root whose prefix is mounted elsewhere is not part of the bucket view.
        return mount == "" and any(key.startswith(m) for m in self.mounts)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open(self, key: str) -> io.RawIOBase:
        return io.FileIO(self._path(key), "r")

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see a half-written file, as with an S3 PUT

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def purge_old_versions(self, key: str) -> int:
        return 0


class S3Store:
    """The lake bucket. Honours AWS_ENDPOINT_URL through boto3, so it also serves moto."""

    def __init__(self, client: S3Client | Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.description = f"s3://{bucket}"

    def list_keys(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def open(self, key: str) -> io.RawIOBase:
        return _S3RangeReader(self.client, self.bucket, key)

    def put(self, key: str, data: bytes) -> None:
        # The bucket's default encryption (KMS) applies; no per-object settings to keep in sync.
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def purge_old_versions(self, key: str) -> int:
        purged = 0
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            stale = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                if v["Key"] == key and not v.get("IsLatest", False) and v.get("VersionId") not in (None, "null")
            ]
            for version in stale:
                self.client.delete_object(Bucket=self.bucket, Key=version["Key"], VersionId=version["VersionId"])
                purged += 1
        return purged


class _S3RangeReader(io.RawIOBase):
    """Seekable reads of one S3 object through ranged GETs (pyarrow reads the footer, then column chunks)."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        super().__init__()
        self._client = client
        self._bucket = bucket
        self._key = key
        self._size: int = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._size or len(view) == 0:
            return 0
        end = min(self._size, self._pos + len(view)) - 1
        response = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{end}")
        data = response["Body"].read()
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)
