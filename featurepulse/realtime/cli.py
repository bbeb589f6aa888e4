"""`featurepulse realtime panels | finalize`: the live panels as JSON, and the daily correction of a day's rows.

    featurepulse realtime panels --table <AggregatesTableName> [--feature F] [--at 2025-03-01T09:30:00Z]
    featurepulse realtime finalize --date 2025-03-01 [--force]                       (local lake, DuckDB)
    featurepulse realtime finalize --date 2025-03-01 --table T --database DB --workgroup WG [--events-table E]
                                                                                  (AWS: Athena)

`finalize` writes the day's batch figures as final day rows (featurepulse/realtime/finalize.py), which the panels
then show instead of the live ones; the report job does it for every final day of its period. A day is final
once it is over plus the allowed lateness; `--force` corrects a day before (local mode after a drain).

Uses the default AWS credentials and region (locally: the `aws_endpoint_url` of .featurepulse/local.json via
AWS_ENDPOINT_URL). The same reads as the dashboards (featurepulse/realtime/dal.py).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from featurepulse.address_book import running_local_stack, use_local_stack
from featurepulse.cli import CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("realtime", help="real-time aggregates (Flink -> DynamoDB)")
    commands = parser.add_subparsers(dest="realtime_command", metavar="COMMAND", required=True)
    panels = commands.add_parser("panels", help="print the five live panels as JSON")
    panels.add_argument(
        "--table",
        default=None,
        help="the aggregates table (stack output AggregatesTableName; default: the running local stack's)",
    )
    panels.add_argument("--feature", default=None, help="feature id (default: the most used today)")
    panels.add_argument("--at", default=None, help="ISO-8601 time to read the panels at (default: now)")
    panels.set_defaults(func=print_panels)
    final = commands.add_parser("finalize", help="correct a final day's live rows with the batch's figures")
    final.add_argument("--date", required=True, help="the day, YYYY-MM-DD (UTC)")
    final.add_argument("--table", default=None, help="the aggregates table (default: the local stack's)")
    final.add_argument("--force", action="store_true", help="correct the day even if it is not over yet")
    final.add_argument("--root", default=".featurepulse", help="the local stack's directory (local mode)")
    final.add_argument("--database", default=None, help="AWS: the Glue database of the lake (Athena mode)")
    final.add_argument("--workgroup", default=None, help="AWS: the Athena workgroup")
    final.add_argument("--events-table", default="events", help="AWS: the lake's events table")
    final.add_argument("--identities-table", default="identities", help="AWS: the identity table")
    final.set_defaults(func=finalize)


def print_panels(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from featurepulse.realtime.dal import AggregatesReader
    from featurepulse.realtime.windows import parse_instant_ms

    try:
        now_ms = parse_instant_ms(args.at) if args.at else int(time.time() * 1000)
    except ValueError:
        raise CliError(f"--at is not an ISO-8601 time: {args.at!r}") from None
    if not args.table:
        book = running_local_stack()
        if book is None or not book.get("aggregates_table"):
            raise CliError("no aggregates table: pass --table, or start the local stack (make serve)")
        use_local_stack(book)
        args.table = str(book["aggregates_table"])
    reader = AggregatesReader(boto3.client("dynamodb"), args.table)
    try:
        panels = reader.panels(args.feature, now_ms)
    except ClientError as exc:
        raise CliError(f"cannot read table {args.table}: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise CliError(f"cannot read table {args.table}: {exc}") from None
    print(panels.model_dump_json(indent=2))
    return 0


def _local_book(root: Path) -> dict[str, Any]:
    path = root / "local.json"
    if not path.is_file():
        return {}
    try:
        book: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return book


def finalize(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from featurepulse.realtime.finalize import DayNotFinalError, FinalizedDay, finalize_day
    from featurepulse.realtime.local import LOCAL_AGGREGATES_TABLE, finalize_lake_day

    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        raise CliError(f"--date is not a day (YYYY-MM-DD): {args.date!r}") from None
    now = datetime.now(UTC)
    try:
        if args.database:  # AWS: the same query on Athena, as the report job runs it
            if not args.table or not args.workgroup:
                raise CliError("Athena mode needs --table and --workgroup with --database")
            from featurepulse.reporting.athena_runner import AthenaQueryRunner

            runner = AthenaQueryRunner(
                database=args.database,
                table=args.events_table,
                identities_table=args.identities_table,
                workgroup=args.workgroup,
            )
            done: FinalizedDay = finalize_day(
                runner, boto3.client("dynamodb"), args.table, day, now=now, force=args.force
            )
        else:  # the local stack: its lake (DuckDB) and its aggregates table (moto)
            root = Path(args.root)
            book = _local_book(root)
            endpoint = book.get("aws_endpoint_url")
            local_key = "featurepulse-local" if endpoint else None  # moto takes any credentials
            client = boto3.client(
                "dynamodb",
                endpoint_url=endpoint,
                region_name=str(book.get("region") or "us-east-1"),
                aws_access_key_id=local_key,
                aws_secret_access_key=local_key,
            )
            table = args.table or str(book.get("aggregates_table") or LOCAL_AGGREGATES_TABLE)
            lake_dir = Path(book.get("lake_dir") or root / "lake")
            done = finalize_lake_day(lake_dir, client, table, day, now=now, force=args.force)
    except DayNotFinalError as exc:
        raise CliError(f"{exc}; use --force to correct it anyway") from None
    except ClientError as exc:
        raise CliError(f"cannot write the final rows: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise CliError(f"cannot write the final rows: {exc}") from None
    print(
        f"{day.isoformat()}: {done.rows} final day rows written"
        if done.rows
        else f"{day.isoformat()}: no event that day, nothing to correct"
    )
    return 0
