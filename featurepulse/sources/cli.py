"""`featurepulse sources create --name N | list | revoke SOURCE_ID` (table: `--table` or `SOURCES_TABLE_NAME`)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from featurepulse.address_book import running_local_stack, use_local_stack
from featurepulse.cli import CliError
from featurepulse.constants import ENV_SOURCES_TABLE
from featurepulse.domain.schema import format_timestamp, parse_timestamp
from featurepulse.ingest.settings import DEFAULT_SOURCES_CACHE_TTL_SECONDS
from featurepulse.sources import SourceNotFoundError, create_source, list_sources, revoke_source


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sources",
        help="create, list and revoke sources (client apps) and their write keys",
        description="Sources are the client apps that send events; each has a write key (shown once).",
    )
    parser.add_argument(
        "--table",
        help=f"sources table name (default: ${ENV_SOURCES_TABLE}, else the running local stack's); "
        "AWS_ENDPOINT_URL is honoured",
    )
    commands = parser.add_subparsers(dest="sources_command", metavar="COMMAND", required=True)

    create = commands.add_parser("create", help="create a source and print its write key (shown once)")
    create.add_argument("--name", required=True, help="a name for the client app, e.g. 'web app'")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(func=_create)

    listing = commands.add_parser("list", help="list the sources (never their write keys)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_list)

    revoke = commands.add_parser("revoke", help="revoke a source: its write key gets 401 within the cache TTL")
    revoke.add_argument("source_id", metavar="SOURCE_ID")
    revoke.add_argument("--json", action="store_true", help="print JSON")
    revoke.set_defaults(func=_revoke)


def _table(args: argparse.Namespace) -> str:
    table = getattr(args, "table", None) or os.environ.get(ENV_SOURCES_TABLE)
    if not table:
        book = running_local_stack()
        if book is None or not book.get("sources_table"):
            raise CliError(
                f"no sources table: pass --table, set {ENV_SOURCES_TABLE}, or start the local stack (make serve)"
            )
        use_local_stack(book)
        table = book["sources_table"]
    return str(table)


def _aws(action: Callable[[], Any], table: str) -> Any:
    try:
        return action()
    except NoRegionError:
        raise CliError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)") from None
    except NoCredentialsError:
        raise CliError("no AWS credentials found") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise CliError(f"sources table {table!r} not found") from None
        raise CliError(f"AWS refused the call: {exc}") from None
    except BotoCoreError as exc:
        raise CliError(f"cannot reach AWS: {exc}") from None


def _create(args: argparse.Namespace) -> int:
    table = _table(args)
    try:
        created = _aws(lambda: create_source(table, args.name), table)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(created.__dict__))
    else:
        print(f"source_id: {created.source_id}")
        print(f"name:      {created.name}")
        print(f"write_key: {created.write_key}")
        print("Keep the write key now: it is stored only as a hash and cannot be shown again.")
    return 0


def _list(args: argparse.Namespace) -> int:
    table = _table(args)
    sources = _aws(lambda: list_sources(table), table)
    if args.json:
        print(json.dumps([s.__dict__ for s in sources]))
        return 0
    if not sources:
        print("no sources")
        return 0
    print(f"{'SOURCE_ID':22} {'STATUS':8} {'CREATED_AT':25} NAME")
    for s in sources:
        print(f"{s.source_id:22} {s.status:8} {s.created_at:25} {s.name}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    table = _table(args)
    try:
        source = _aws(lambda: revoke_source(table, args.source_id), table)
    except SourceNotFoundError:
        raise CliError(f"no source with id {args.source_id!r}") from None
    if args.json:
        print(json.dumps(source.__dict__))
    else:
        # The ingest caches keys per Lambda instance (featurepulse/ingest/settings.py): say when it takes effect.
        until = format_timestamp(
            parse_timestamp(str(source.revoked_at)) + timedelta(seconds=DEFAULT_SOURCES_CACHE_TTL_SECONDS)
        )
        print(
            f"revoked {source.source_id} ({source.name}) at {source.revoked_at}: its write key gets 401 from "
            f"{until} at the latest (ingest instances cache keys for {DEFAULT_SOURCES_CACHE_TTL_SECONDS} s)"
        )
    return 0
