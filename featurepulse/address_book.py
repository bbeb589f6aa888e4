"""The running local stack, as the CLI verbs find it: `.featurepulse/local.json` (docs/local.md).

Every verb that talks to AWS falls back to the local stack when the user names no table: `featurepulse sources
list` right after `make serve` works without flags. This module only reads the address book (it never imports
the local runtime, which capability packages must not depend on).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_LOCAL_DIR = Path(".featurepulse")
LOCAL_DIR_ENV = "FEATUREPULSE_LOCAL_DIR"
# moto accepts any credentials; these are the ones the local stack itself uses.
LOCAL_CREDENTIALS = "featurepulse-local"


def running_local_stack(root: Path | None = None) -> dict[str, Any] | None:
    """The address book of a running local stack, or None (no file, unreadable, or stopped)."""
    directory = root or Path(os.environ.get(LOCAL_DIR_ENV) or DEFAULT_LOCAL_DIR)
    path = directory / "local.json"
    try:
        book = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(book, dict) or book.get("status") != "running" or not book.get("aws_endpoint_url"):
        return None
    return book


def use_local_stack(book: dict[str, Any]) -> None:
    """Point boto3 at the local stack's moto server (endpoint, region, credentials) and say so on stderr."""
    os.environ["AWS_ENDPOINT_URL"] = str(book["aws_endpoint_url"])
    region = str(book.get("region") or "us-east-1")
    os.environ.setdefault("AWS_REGION", region)
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    os.environ["AWS_ACCESS_KEY_ID"] = LOCAL_CREDENTIALS
    os.environ["AWS_SECRET_ACCESS_KEY"] = LOCAL_CREDENTIALS
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    print(f"featurepulse: using the local stack at {book['aws_endpoint_url']} (local.json)", file=sys.stderr)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a stack recorded in local.json may have died)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def local_stack_client(service: str, *, region: str, endpoint_url: str | None) -> Any:
    """A boto3 client of the local stack's moto server, with the stack's credentials (the caller has none)."""
    import boto3

    session = boto3.session.Session(
        region_name=region, aws_access_key_id=LOCAL_CREDENTIALS, aws_secret_access_key=LOCAL_CREDENTIALS
    )
    return session.client(service, endpoint_url=endpoint_url)  # type: ignore[call-overload]
