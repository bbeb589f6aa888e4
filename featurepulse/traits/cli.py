"""`featurepulse traits import FILE.csv --key userId`, `featurepulse traits list` and `featurepulse spend import
FILE.csv` (docs/segments.md).

Targets:
- default: the local lake of `featurepulse local` (`.featurepulse/local.json`, else `.featurepulse/lake`), and the
  moto lake bucket too while the local stack runs (`make serve`), as `featurepulse erase` does;
- `--bucket NAME`: a deployed lake bucket (stack output LakeBucketName) with your AWS credentials
  (`AWS_ENDPOINT_URL` is honoured, e.g. for moto).
The file is read and validated whole before anything is written: a refused file changes nothing.
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from featurepulse.cli import CliError
from featurepulse.cli_support import add_target_arguments, aws_errors_as_cli_errors, local_address_book, print_help

DEFAULT_SPEND_IMPORT = "spend"
MAX_FILE_BYTES = 256 * 1024 * 1024


def register(subparsers: Any) -> None:
    traits = subparsers.add_parser(
        "traits",
        help="CRM traits: import a CSV of user or account traits into the lake",
        description="Traits of persons for segments (docs/segments.md): identify and group calls, and CSV imports.",
    )
    sub = traits.add_subparsers(dest="traits_command", metavar="COMMAND")
    load = sub.add_parser(
        "import",
        help="load a CSV (a header line, one key column, any trait columns) into the lake's trait_imports table",
        description="Load a CSV file into the lake in long form (one row per key and trait). The same --name "
        "replaces the earlier import of that name whole; a file with any problem is refused with the line and "
        "column, and nothing is written.",
    )
    load.add_argument("file", type=Path, help="CSV file, UTF-8, with a header line")
    load.add_argument("--key", required=True, help="the key column: user ids (e.g. userId), or account ids")
    load.add_argument("--name", help="import name (default: the file's name without .csv); re-use it to replace")
    load.add_argument("--account", action="store_true", help="the key is an account id (groupId): account traits")
    load.add_argument("--delimiter", default=",", help="field separator (default ,)")
    load.add_argument("--dry-run", action="store_true", help="validate and count; write nothing")
    _add_target(load)
    load.set_defaults(func=run_traits_import)
    listing = sub.add_parser("list", help="the imports in the lake: name, time, keys, rows")
    _add_target(listing)
    listing.set_defaults(func=run_traits_list)
    traits.set_defaults(func=lambda _args: print_help(traits))

    spend = subparsers.add_parser(
        "spend",
        help="campaign spend: import a CSV (campaign, spend_usd) for the cost per adopter",
        description="Campaign spend for the report's campaign ranking (docs/segments.md).",
    )
    spend_sub = spend.add_subparsers(dest="spend_command", metavar="COMMAND")
    spend_load = spend_sub.add_parser(
        "import",
        help="load a CSV with the columns campaign, spend_usd into the lake's campaign_spend table",
        description="Load campaign spend (US dollars) into the lake. The same --name replaces the earlier import "
        "of that name whole; a file with any problem is refused with the line and column, and nothing is written.",
    )
    spend_load.add_argument("file", type=Path, help="CSV file, UTF-8, header: campaign,spend_usd")
    spend_load.add_argument(
        "--name", default=DEFAULT_SPEND_IMPORT, help=f"import name (default {DEFAULT_SPEND_IMPORT}); re-use to replace"
    )
    spend_load.add_argument("--delimiter", default=",", help="field separator (default ,)")
    spend_load.add_argument("--dry-run", action="store_true", help="validate and count; write nothing")
    _add_target(spend_load)
    spend_load.set_defaults(func=run_spend_import)
    spend.set_defaults(func=lambda _args: print_help(spend))


def _add_target(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, bucket=True, lake_dir=True)


# --- targets --------------------------------------------------------------------------------------------
def target_stores(args: argparse.Namespace) -> list[Any]:
    """The object stores an import goes to (see the module docstring)."""
    from featurepulse.address_book import local_stack_client, running_local_stack
    from featurepulse.lake.store import LocalStore, S3Store

    if args.bucket:
        import boto3

        return [S3Store(boto3.client("s3"), args.bucket)]
    book = local_address_book(args.local_dir)
    lake_dir = Path(args.lake_dir or book.get("lake_dir") or args.local_dir / "lake")
    stores: list[Any] = [LocalStore(lake_dir)]
    running = running_local_stack(args.local_dir)
    if args.lake_dir is None and running is not None and running.get("lake_bucket") and _alive(running.get("pid")):
        client = local_stack_client(
            "s3", region=str(running.get("region") or "us-east-1"), endpoint_url=str(running["aws_endpoint_url"])
        )
        stores.append(S3Store(client, str(running["lake_bucket"])))
    return stores


def _alive(pid: Any) -> bool:
    """Whether the stack's process still runs (a stack that died leaves `running` in its address book)."""
    from featurepulse.address_book import pid_alive

    if not isinstance(pid, int):
        return True  # an address book without a pid: trust its status
    return pid_alive(pid)


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CliError(f"{path}: {size:,} bytes, at most {MAX_FILE_BYTES:,}: split the file")
        return path.read_bytes()
    except IsADirectoryError:
        raise CliError(f"{path} is a directory, not a CSV file") from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None


def default_import_name(path: Path) -> str:
    """`CRM export (Dec).csv` -> `CRM-export-Dec`: the file name made a valid import name."""
    stem = path.name.split(".", 1)[0]
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:100]
    return name or "import"


def _now() -> datetime:
    return datetime.now(timezone.utc)  # noqa: UP017


# --- commands -------------------------------------------------------------------------------------------
def run_traits_import(args: argparse.Namespace) -> int:
    from featurepulse.domain.traits import format_imported_at
    from featurepulse.traits.csv_files import ImportFileError, read_traits_csv
    from featurepulse.traits.store import TraitStore, check_import_name

    name = args.name or default_import_name(args.file)
    try:
        check_import_name(name)
    except ValueError as exc:
        raise CliError(f"{exc} (--name)") from None
    now = _now()
    data = _read_file(args.file)
    try:
        parsed = read_traits_csv(
            data,
            key_column=args.key,
            import_name=name,
            imported_at=format_imported_at(now),
            account=args.account,
            delimiter=_delimiter(args.delimiter),
        )
    except ImportFileError as exc:
        raise CliError(f"{args.file}: {exc}; nothing imported") from None
    kind = "accounts" if args.account else "users"
    summary = (
        f"{parsed.keys} {kind}, {len(parsed.trait_columns)} traits ({', '.join(parsed.trait_columns)}), "
        f"{len(parsed.rows)} values"
    )
    if args.dry_run:
        print(f"{args.file}: valid: {summary}; nothing written (--dry-run)")
        return 0
    with aws_errors_as_cli_errors():
        for store in target_stores(args):
            result = TraitStore(store).replace_trait_import(name, parsed.rows, now=now)
            replaced = f", replacing the earlier import {name!r}" if result.replaced_objects else ""
            print(f"{store.description}/{result.key}: imported {summary} as {name!r}{replaced}")
    return 0


def run_traits_list(args: argparse.Namespace) -> int:
    from featurepulse.domain.traits import current_imports
    from featurepulse.traits.store import TraitStore

    with aws_errors_as_cli_errors():
        store = TraitStore(target_stores(args)[0])
        rows = current_imports(store.read_trait_imports())
        spend = store.read_spend()
    if not rows and not spend:
        print(f"{store.description}: no trait or spend import")
        return 0
    by_name: dict[str, list[Any]] = {}
    for row in rows:
        by_name.setdefault(row.import_name, []).append(row)
    for name, items in sorted(by_name.items()):
        keys = {(r.key_kind, r.key) for r in items}
        traits = sorted({r.trait for r in items})
        print(
            f"traits {name}: imported {items[0].imported_at}, {len(keys)} {items[0].key_kind} keys, "
            f"{len(items)} values, traits {', '.join(traits)}"
        )
    spend_names: dict[str, list[Any]] = {}
    for line in spend:
        spend_names.setdefault(line.import_name, []).append(line)
    for name, lines in sorted(spend_names.items()):
        total = sum(line.spend_usd for line in lines)
        print(f"spend {name}: imported {lines[0].imported_at}, {len(lines)} campaigns, {total:,.2f} USD")
    return 0


def run_spend_import(args: argparse.Namespace) -> int:
    from featurepulse.domain.traits import format_imported_at
    from featurepulse.traits.csv_files import ImportFileError, read_spend_csv
    from featurepulse.traits.store import SpendRow, TraitStore, check_import_name

    try:
        check_import_name(args.name)
    except ValueError as exc:
        raise CliError(f"{exc} (--name)") from None
    now = _now()
    data = _read_file(args.file)
    try:
        lines = read_spend_csv(data, delimiter=_delimiter(args.delimiter))
    except ImportFileError as exc:
        raise CliError(f"{args.file}: {exc}; nothing imported") from None
    stamp = format_imported_at(now)
    rows = [SpendRow(line.campaign, line.spend_usd, args.name, stamp) for line in lines]
    summary = f"{len(rows)} campaigns, {sum(r.spend_usd for r in rows):,.2f} USD"
    if args.dry_run:
        print(f"{args.file}: valid: {summary}; nothing written (--dry-run)")
        return 0
    with aws_errors_as_cli_errors():
        for store in target_stores(args):
            result = TraitStore(store).replace_spend_import(args.name, rows, now=now)
            replaced = f", replacing the earlier import {args.name!r}" if result.replaced_objects else ""
            print(f"{store.description}/{result.key}: imported {summary} as {args.name!r}{replaced}")
    return 0


def _delimiter(text: str) -> str:
    value = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(value) != 1 or value in ('"', "\n", "\r"):
        raise CliError(f"--delimiter must be one character (e.g. , ; or tab), got {text!r}")
    return value
