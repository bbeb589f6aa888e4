"""What the CLI verbs share: the options that choose a target (the local stack's lake, or a deployed bucket),
the local stack's address book as they read it, and AWS refusals as one-line user errors.

Capability packages use it as well as `featurepulse.local`, so it imports nothing from the local runtime (the
running stack is found through `featurepulse.address_book`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from featurepulse.address_book import DEFAULT_LOCAL_DIR
from featurepulse.cli import CliError


def print_help(parser: argparse.ArgumentParser) -> int:
    """A command group run without its verb: its help, exit code 2."""
    parser.print_help()
    return 2


def add_target_arguments(parser: argparse.ArgumentParser, *, bucket: bool, lake_dir: bool) -> None:
    """`--bucket` (a deployed lake) and `--lake-dir` where the verb takes them, and `--local-dir` always."""
    if bucket:
        parser.add_argument("--bucket", help="deployed lake bucket (stack output LakeBucketName)")
    if lake_dir:
        parser.add_argument("--lake-dir", type=Path, help="local lake directory (default: the local stack's)")
    parser.add_argument(
        "--local-dir", type=Path, default=DEFAULT_LOCAL_DIR, help="local stack directory (default .featurepulse)"
    )


def local_address_book(local_dir: Path) -> dict[str, Any]:
    """`<local_dir>/local.json` as written by `featurepulse local`, running or not; {} when there is none."""
    path = Path(local_dir) / "local.json"
    if not path.is_file():
        return {}
    try:
        book = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise CliError(f"{path} is not valid JSON; run `featurepulse local` again") from None
    return book if isinstance(book, dict) else {}


def iso_day(text: str) -> date:
    """An argparse `type`: a YYYY-MM-DD day."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


@contextmanager
def aws_errors_as_cli_errors() -> Iterator[None]:
    """AWS refusals (no credentials, access denied, no such bucket) are user errors: one line, no traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CliError(f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise CliError(f"AWS: {exc}") from None
