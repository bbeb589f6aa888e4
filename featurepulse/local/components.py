"""The local stack's plug-in points (docs/design.md section 6).

`featurepulse local` starts moto, creates the AWS resources, serves the real ingest handler over HTTP,
then starts every registered `LocalComponent` (the lake writer standing in for Firehose, the Flink job,
the dashboard, the report job...). Each capability ships its own component; the runtime only composes.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class AddressBook:
    """`.featurepulse/local.json`: the local stack's address book, rewritten atomically on each update."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}

    def update(self, **entries: Any) -> None:
        with self._lock:
            self._data.update({k: (str(v) if isinstance(v, Path) else v) for k, v in entries.items()})
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self._data, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, self.path)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._data)


@dataclass
class LocalContext:
    """What a component needs to find the rest of the local stack."""

    root: Path  # .featurepulse/
    address_book: AddressBook
    aws_endpoint_url: str
    region: str
    stream_name: str
    sources_table: str
    lake_bucket: str
    lake_dir: Path
    quarantine_dir: Path
    outbox_dir: Path
    endpoint: str = ""
    write_key: str = ""
    stop_event: threading.Event = field(default_factory=threading.Event)
    # Free-form values components publish for each other (e.g. the aggregates table name).
    shared: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A boto3 client for the local moto server."""
        import boto3  # local import: keeps `featurepulse local --help` fast

        session = boto3.session.Session(region_name=self.region)
        return session.client(service, endpoint_url=self.aws_endpoint_url)  # type: ignore[call-overload]


@runtime_checkable
class LocalComponent(Protocol):
    name: str

    def start(self, ctx: LocalContext) -> None:
        """Start (threads or subprocesses); return quickly. Publish addresses with ctx.address_book.update."""

    def drain(self, ctx: LocalContext, timeout_s: float) -> None:
        """The demo's traffic has ended: process everything already on the stream, then return."""

    def summary(self, ctx: LocalContext) -> list[str]:
        """Lines to print at the end of the demo (where to look, counts)."""

    def stop(self) -> None:
        """Stop cleanly; must be safe to call twice and after a failed start."""
